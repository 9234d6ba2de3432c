import Foundation
public import NIOSSL

/// A self-signed certificate and its key, made at test time with the system's `openssl`, for
/// TLS servers on loopback. It is its own CA: a client that trusts it accepts the server.
public struct TLSTestCertificate: Sendable {
    /// The certificate (also the trust root to give a client).
    public let certificate: NIOSSLCertificate
    /// Its private key.
    public let privateKey: NIOSSLPrivateKey
    /// The certificate in PEM form.
    public let pem: String

    /// Makes a P-256 certificate valid for one day for the DNS names and IP addresses given.
    ///
    /// - Throws: ``OpenSSLFailed`` when `openssl` is missing or fails.
    public static func make(dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1", "::1"]) throws -> TLSTestCertificate {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }  // a leftover temp folder harms nothing
        let keyPath = directory.appendingPathComponent("key.pem").path
        let certificatePath = directory.appendingPathComponent("certificate.pem").path
        let names = dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }
        let arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certificatePath, "-days", "1",
            "-subj", "/CN=\(dnsNames.first ?? ipAddresses.first ?? "parley test")",
            "-addext", "subjectAltName=" + names.joined(separator: ","),
            "-addext", "basicConstraints=critical,CA:TRUE",
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(status: process.terminationStatus, message: String(decoding: message, as: UTF8.self))
        }
        let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        return TLSTestCertificate(
            certificate: try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem),
            privateKey: try NIOSSLPrivateKey(file: keyPath, format: .pem),
            pem: pem
        )
    }

    /// A server configuration presenting this certificate.
    public var serverConfiguration: TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(privateKey))
    }

    /// A client configuration that trusts this certificate (and nothing else).
    public var trustingClientConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([certificate])
        return configuration
    }
}

/// `openssl` could not make the certificate.
public struct OpenSSLFailed: Error, CustomStringConvertible {
    public let status: Int32
    public let message: String
    public var description: String { "openssl exited with \(status): \(message)" }
}
