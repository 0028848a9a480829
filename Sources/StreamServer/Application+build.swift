import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import ThreadScheduling

/// Wires the server: worker pool, live-stream hub, call store and recordings, HTTP routes,
/// drain step.
///
/// Service order matters: ServiceLifecycle shuts services down in reverse, so on SIGTERM the
/// drain runs first, then the HTTP server stops, then the workers (after the transcripts and
/// analyses they owe have been delivered), and the analyses' bookkeeping last, so every
/// answer a worker gave is stored. (Jobs queued before the workers are up wait in their
/// slots.) Live sessions stop after the HTTP server and the drain, so the sessions the drain
/// closed are finalised before the workers go.
func buildServer(_ arguments: StreamServerCommand, logger: Logger) throws -> ServiceGroup {
    let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let eventLoops = Array(eventLoopGroup.makeIterator())
    // The loops carry every chunk and answer: short slices, so a loop woken by one runs soon
    // even while other threads keep both cores busy (see `CurrentThread.requestShortSlice`).
    for loop in eventLoops {
        loop.execute { CurrentThread.requestShortSlice() }
    }
    let metrics = ServerMetrics(eventLoops: eventLoops)
    var limits = LiveStreams.Limits()
    limits.maxChunkBytes = arguments.maxChunkBytes
    limits.maxInFlightChunks = arguments.maxInFlight
    limits.maxInFlightBytes = max(4 << 20, arguments.maxChunkBytes)
    limits.maxConnections = arguments.maxConnections
    limits.timeouts.idleTimeout = arguments.idleTimeout > 0 ? .milliseconds(Int64(arguments.idleTimeout * 1000)) : nil
    limits.timeouts.sendTimeout = arguments.sendTimeout > 0 ? .milliseconds(Int64(arguments.sendTimeout * 1000)) : nil
    let streams = LiveStreams(limits: limits, metrics: metrics, eventLoops: eventLoops)
    let tokens = try arguments.authTokensFile.map { path in
        do { return try AuthTokens(path: path) } catch { throw ValidationError("--auth-tokens-file: \(error)") }
    }
    let access = AccessPolicy(tokens: tokens, origins: arguments.corsOrigin)

    var workerArguments: [String] = []
    if arguments.mockLatencyMs > 0 {
        workerArguments += ["--mock-latency-ms", String(arguments.mockLatencyMs)]
    }
    if arguments.engine != "mock" {
        // Absolute: the workers do not share our working directory's meaning in every setup.
        let moonshine = URL(fileURLWithPath: arguments.moonshineDir).standardizedFileURL.path
        workerArguments += ["--engine", arguments.engine, "--moonshine-dir", moonshine, "--pocketsphinx-model", arguments.pocketsphinxModel]
        try EngineCheck.run(workerPath: arguments.resolvedWorkerPath, arguments: workerArguments)
    }
    let workers = WorkerPool(
        configuration: .init(
            count: arguments.workers,
            executablePath: arguments.resolvedWorkerPath,
            arguments: workerArguments,
            analysisTimeout: .milliseconds(Int64(arguments.analysisTimeout * 1000)),
            heartbeatTimeout: .milliseconds(Int64(arguments.workerTimeout * 1000)),
            writeInterval: .microseconds(Int64(arguments.workerWriteIntervalMs * 1000))
        ),
        eventLoopGroup: eventLoopGroup,
        sink: streams,
        metrics: metrics,
        logger: logger
    )

    let dataDirectory = URL(fileURLWithPath: arguments.dataDir)
    let database = try CallDatabase.open(directory: dataDirectory)
    let files = RecordingFiles(dataDirectory: dataDirectory)
    try files.prepare()

    var analysisSettings = RecordingAnalyses.Settings()
    analysisSettings.minSilenceMs = arguments.minSilenceMs
    analysisSettings.silenceThresholdDBFS = arguments.silenceThresholdDb
    analysisSettings.archiveBitrateKbps = arguments.archiveFormat == "mp3" ? arguments.archiveBitrate : nil
    let repository = SQLiteCallRepository(database: database)
    let analyses = RecordingAnalyses(
        repository: repository,
        files: files,
        workers: workers,
        metrics: metrics,
        settings: analysisSettings,
        logger: logger
    )
    workers.setAnalysisSink(analyses)

    var sessionSettings = LiveSessions.Settings()
    sessionSettings.resumeWindow = .milliseconds(Int64(arguments.resumeWindow * 1000))
    sessionSettings.retainedAnswers = arguments.maxInFlight
    sessionSettings.maxRecordingSeconds = arguments.maxRecordingMinutes.map { $0 * 60 }
    sessionSettings.storesChunkTexts = arguments.engine == "mock"
    let sessions = LiveSessions(
        settings: sessionSettings,
        streams: streams,
        repository: repository,
        files: files,
        feedSpool: try FeedSpool(directory: files.temporaryDirectory.path),
        spares: try SpareFiles(directory: files.spareDirectory.path, target: arguments.spareRecordingFiles),
        analyses: analyses,
        logger: logger
    )

    let deleter = CallDeleter(repository: repository, files: files, sessions: sessions)
    var retentionSettings = RetentionService.Settings()
    retentionSettings.retention = arguments.retentionDays.map { .seconds($0 * 86_400) }
    retentionSettings.interval = .milliseconds(Int64(arguments.retentionInterval * 1000))
    let retention = RetentionService(settings: retentionSettings, repository: repository, deleter: deleter, metrics: metrics, logger: logger)

    let router = Router()
    // Middleware first: Hummingbird wraps each route with the middleware added before it.
    let routes = RouteTable()
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
    if !arguments.corsOrigin.isEmpty {
        router.add(middleware: AllowedOriginsMiddleware(origins: arguments.corsOrigin))
    }
    router.add(middleware: ErrorResponseMiddleware(routes: routes))
    router.add(middleware: AccessMiddleware(policy: access))
    HealthController(streams: streams, workers: workers, metrics: metrics, engine: arguments.engine).addRoutes(to: router)
    let calls = CallController<BasicRequestContext>(
        repository: repository,
        files: files,
        maxUploadBytes: arguments.maxUploadBytes,
        analyses: analyses,
        transcribeSeconds: analysisSettings.transcribeSeconds,
        deleter: deleter,
        maxRecordingSeconds: arguments.maxRecordingMinutes.map { $0 * 60 }
    )
    calls.addRoutes(to: router)
    LiveStreamRoutes(streams: streams, sessions: sessions, repository: repository).addRoutes(to: router)
    MetricsController(metrics: metrics, streams: streams, sessions: sessions, workers: workers, repository: repository).addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    routes.set(from: router)

    let tls = try arguments.tlsConfiguration()
    var server = HTTPServerBuilder.liveStreams(
        streams: streams,
        sessions: sessions,
        workers: workers,
        repository: repository,
        requestBodyTimeout: .milliseconds(Int64(arguments.requestBodyTimeout * 1000)),
        requestTimeout: .milliseconds(Int64(arguments.requestTimeout * 1000)),
        access: access,
        secure: tls != nil,
        compression: arguments.wsCompression,
        echoEndpoint: arguments.testEchoEndpoint,
        logger: logger
    )
    if let tls {
        server = try .tls(server, tlsConfiguration: tls)
    }
    let app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(arguments.host, port: arguments.port), serverName: nil),
        onServerRunning: { channel in
            logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
        },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger
    )
    let audioSocket = arguments.audiosocketPort.map { port in
        AudioSocketServer(
            host: arguments.host,
            port: port,
            eventLoopGroup: eventLoopGroup,
            streams: streams,
            sessions: sessions,
            workers: workers,
            logger: logger
        )
    }
    let grpc = arguments.grpcPort.map { port in
        GRPCServerService(
            host: arguments.host,
            port: port,
            tls: arguments.tlsCert.flatMap { cert in arguments.tlsKey.map { (cert, $0) } },
            service: GRPCCallService(calls: calls, streams: streams, sessions: sessions, workers: workers, logger: logger),
            tokens: tokens,
            logger: logger
        )
    }
    let drain = DrainService(streams: streams, drainTimeout: .milliseconds(Int64(arguments.drainTimeout * 1000)), logger: logger)
    var services: [any Service] = [analyses, workers, sessions, retention, app]
    if let grpc { services.append(grpc) }
    if let audioSocket { services.append(audioSocket) }
    services.append(drain)
    if let tokens = access.tokens { services.append(TokenReloadService(tokens: tokens, logger: logger)) }
    return ServiceGroup(
        configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
}
