// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Parley",
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "ParleyProtocol", targets: ["ParleyProtocol"]),
        .library(name: "ParleyEngine", targets: ["ParleyEngine"]),
        .library(name: "Parley", targets: ["Parley"]),
        .library(name: "ParleyStore", targets: ["ParleyStore"]),
        .library(name: "ParleySQLite", targets: ["ParleySQLite"]),
        .library(name: "ParleyClient", targets: ["ParleyClient"]),
        .library(name: "ParleyTesting", targets: ["ParleyTesting"]),
        .executable(name: "parley", targets: ["ParleyCLI"]),
        .executable(name: "BenchServer", targets: ["BenchServer"]),
        .executable(name: "EngineEcho", targets: ["EngineEcho"]),
        .executable(name: "Chat", targets: ["Chat"]),
        .executable(name: "ChatCLI", targets: ["ChatCLI"]),
        .executable(name: "StoreBench", targets: ["StoreBench"]),
        .executable(name: "RecoveryBench", targets: ["RecoveryBench"]),
        .executable(name: "ReliableBench", targets: ["ReliableBench"]),
        .executable(name: "ReliableChaos", targets: ["ReliableChaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.21.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        .target(
            name: "ParleyProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParleyEngine",
            dependencies: [
                "ParleyProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParleyStore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParleySQLite",
            dependencies: [
                "ParleyStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Parley",
            dependencies: [
                "ParleyProtocol",
                "ParleyEngine",
                "ParleyStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The browser client is compiled in by the plugin rather than copied as a
            // resource: a server binary moved without its resource bundle still serves it.
            exclude: ["Resources/parley.js"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedClientScript"]
        ),
        .executableTarget(
            name: "EmbedClientScriptTool",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "EmbedClientScript",
            capability: .buildTool(),
            dependencies: ["EmbedClientScriptTool"]
        ),
        .target(
            name: "ParleyClient",
            dependencies: [
                "ParleyProtocol",
                "ParleyStore",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParleyTesting",
            dependencies: [
                "ParleyProtocol",
                "ParleyEngine",
                "Parley",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "EngineEcho",
            dependencies: [
                "ParleyEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Samples/EngineEcho",
            exclude: ["abuse.py"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Chat",
            dependencies: [
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                "ParleyEngine",
                "ParleyProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Samples/Chat",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ChatCLI",
            dependencies: [
                "ParleyClient",
                "ParleyProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Samples/ChatCLI",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ParleyCLI",
            dependencies: [
                "ParleyProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "BenchServer",
            dependencies: [
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Samples/BenchServer",
            exclude: ["README.md", "python", "compare.py", "hold.py", "profile.py", "soak.py", "interleave.py"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                "ParleyStore",
                "ParleySQLite",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Samples/StoreBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RecoveryBench",
            dependencies: [
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                "ParleyClient",
                "ParleyProtocol",
                "ParleyTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Samples/RecoveryBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ReliableBench",
            dependencies: [
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                "ParleyClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Samples/ReliableBench",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ReliableChaos",
            dependencies: [
                "Parley",
                "ParleySQLite",
                "ParleyClient",
                "ParleyProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Samples/ReliableChaos",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyStoreTests",
            dependencies: [
                "ParleyStore",
                "ParleySQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyProtocolTests",
            dependencies: [
                "ParleyProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyTests",
            dependencies: [
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                "ParleyEngine",
                "ParleyProtocol",
                "ParleyTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyClientTests",
            dependencies: [
                "ParleyClient",
                "Parley",
                "ParleyStore",
                "ParleySQLite",
                "ParleyProtocol",
                "ParleyTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyEngineTests",
            dependencies: [
                "ParleyEngine",
                "ParleyTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
