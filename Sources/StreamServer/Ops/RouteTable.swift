import Hummingbird
import NIOConcurrencyHelpers

/// The router's routes once they are all added: which methods a path has, so that a request
/// with another method gets 405 and `Allow` rather than 404.
final class RouteTable: Sendable {
    private let routes = NIOLockedValueBox<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func set<Context>(from router: Router<Context>) {
        let routes = router.routes.map { ($0.path, $0.method) }
        self.routes.withLockedValue { $0 = routes }
    }

    /// The methods of the routes matching `path`, sorted; empty when no route matches.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let routes = self.routes.withLockedValue { $0 }
        let methods = Set(routes.filter { Self.matches($0.path, segments) }.map(\.method.rawValue))
        return methods.sorted()
    }

    private static func matches(_ route: RouterPath, _ segments: [Substring]) -> Bool {
        var index = 0
        for component in route.components {
            if component.description == "**" { return true }
            guard index < segments.count, component ~= segments[index] else { return false }
            index += 1
        }
        return index == segments.count
    }
}
