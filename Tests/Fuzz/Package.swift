// swift-tools-version: 6.1
// libFuzzer targets for Parley's decoders and the engine's connection pipeline.
// Built and run by `Tests/Fuzz/run.sh`, which passes the sanitizer flags; see README.md.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ParleyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Parley", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzEnginePacket",
            dependencies: [
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzPollingPayload",
            dependencies: [
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzSocketDecoder",
            dependencies: [
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzJSONScanner",
            dependencies: [
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzWebSocketFrames",
            dependencies: [
                .product(name: "ParleyEngine", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzHTTPPipeline",
            dependencies: [
                .product(name: "ParleyEngine", package: "Parley"),
                .product(name: "ParleyProtocol", package: "Parley"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
