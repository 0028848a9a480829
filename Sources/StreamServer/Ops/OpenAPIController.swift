import Hummingbird

/// `GET /openapi.yaml`: the REST API's contract, as checked in at the repository's root.
struct OpenAPIController<Context: RequestContext>: Sendable {
    func addRoutes(to router: Router<Context>) {
        router.get("/openapi.yaml") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml + "\n"))
            )
        }
    }
}
