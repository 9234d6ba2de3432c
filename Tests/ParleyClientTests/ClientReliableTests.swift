import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Parley
import ParleyClient
import ParleyProtocol
import ParleySQLite
import ParleyStore
import ParleyTesting
import Testing

/// The client's durable outbox (`Protocol/reliable.md` § 5, § 6.1) against a plain Parley
/// server whose handlers play the reliable server's part by hand: they read the key from the
/// marker and answer, or not.
@Suite("Client reliable outbox (live)", .serialized, .timeLimit(.minutes(2)))
struct ClientReliableTests {
    @Test func anEmitCarriesItsKeyLastAndTheCallerGetsTheAnswer() async throws {
        let connects = NIOLockedValueBox<[ConnectAuth]>([])
        let seen = NIOLockedValueBox<[ServerSend]>([])
        let (server, port) = try await Self.server { socket in
            if let auth = try? socket.handshake.auth(as: ConnectAuth.self) { connects.withLockedValue { $0.append(auth) } }
            socket.on("send") { event in
                let send = try ServerSend(event)
                seen.withLockedValue { $0.append(send) }
                try event.ack(["echo": send.number])
            }
        }
        let store = InMemoryClientReliableStore()
        let manager = try Self.manager(port: port, store: store)
        let socket = manager.socket(auth: .value(["token": "t-1"]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            let sent = try await socket.emitReliable("send", 7, "text")
            let answer = try await Self.within { try await sent.answer() }
            #expect(try answer.decode([String: Int].self, at: 0) == ["echo": 7])
            let deviceID = try await store.open().deviceID
            #expect(sent.key == "\(deviceID).1")
            #expect(connects.withLockedValue { $0 } == [ConnectAuth(token: "t-1", deviceId: deviceID)])
            let send = try #require(seen.withLockedValue { $0 }.first)
            #expect(send.key == sent.key)
            // Exactly as encoded: the arguments, then the marker.
            #expect(send.json == #"[7,"text",{"parley":{"key":"\#(sent.key)"}}]"#)
            #expect(try await socket.outboxDepth() == 0)
            #expect(try await store.outbox(namespace: "/") == [])
            await manager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }

    @Test(arguments: [SocketClientConfiguration.Transports.webSocketOnly, .pollingOnly])
    func everyEmitGoesAgainInOrderAfterACutConnectionAndIsAnsweredOnce(_ transports: SocketClientConfiguration.Transports) async throws {
        let acking = NIOLockedValueBox(false)
        let seen = NIOLockedValueBox<[ServerSend]>([])
        let answered = NIOLockedValueBox<[String]>([])
        let (server, port) = try await Self.server { socket in
            socket.on("send") { event in
                let send = try ServerSend(event, socket: socket.id)
                seen.withLockedValue { $0.append(send) }
                guard acking.withLockedValue({ $0 }) else { return }
                answered.withLockedValue { $0.append(send.key) }
                try event.ack(send.number)
            }
        }
        let proxy = try await TCPProxy.start(upstreamPort: port)
        let manager = try Self.manager(port: proxy.port, store: InMemoryClientReliableStore(), transports: transports)
        let socket = manager.socket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            var emits: [ReliableEmit] = []
            for number in 1...5 { emits.append(try await socket.emitReliable("send", number)) }
            // Sent, never answered: then the connection goes.
            #expect(await eventually { seen.withLockedValue { $0.count } == 5 })
            proxy.setRefusing(true)
            await proxy.cutAll()
            #expect(await eventually { !socket.isConnected })
            // Made while the server cannot be reached: kept all the same.
            for number in 6...10 { emits.append(try await socket.emitReliable("send", number)) }
            #expect(try await socket.outboxDepth() == 10)
            acking.withLockedValue { $0 = true }
            proxy.setRefusing(false)

            for (index, emit) in emits.enumerated() {
                #expect(try await Self.within { try await emit.answer() }.decode(Int.self, at: 0) == index + 1)
            }
            let keys = emits.map(\.key)
            #expect(answered.withLockedValue { $0 } == keys)
            let sends = seen.withLockedValue { $0 }
            let firstSocket = try #require(sends.first?.socket)
            #expect(sends.filter { $0.socket == firstSocket }.map(\.key) == Array(keys[0..<5]))
            #expect(sends.filter { $0.socket != firstSocket }.map(\.key) == keys)
            #expect(try await socket.outboxDepth() == 0)
            await manager.disconnect()
            try await group.waitForAll()
        }
        await proxy.stop()
        await server.shutdown()
    }

    @Test func anAppRestartSendsWhatThePreviousRunLeftBeforeItsOwnEmits() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.sqlite").path
        let connects = NIOLockedValueBox<[ConnectAuth]>([])
        let seen = NIOLockedValueBox<[ServerSend]>([])
        let (server, port) = try await Self.server { socket in
            if let auth = try? socket.handshake.auth(as: ConnectAuth.self) { connects.withLockedValue { $0.append(auth) } }
            socket.on("send") { event in
                let send = try ServerSend(event)
                seen.withLockedValue { $0.append(send) }
                try event.ack(send.number)
            }
        }
        let proxy = try await TCPProxy.start(upstreamPort: port)
        proxy.setRefusing(true)

        // First run: the server is never reached; the app ends with three emits in its outbox.
        let firstStore = SQLiteClientReliableStore(path: path)
        let first = try Self.manager(port: proxy.port, store: firstStore)
        var firstKeys: [String] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run() }
            let socket = first.socket()
            firstKeys.append(try await socket.emitReliable("send", 1).key)
            firstKeys.append(try await socket.emitReliable("send", 2, Data([0, 1, 2, 255])).key)
            firstKeys.append(try await socket.emitReliable("send", 3).key)
            #expect(try await socket.outboxDepth() == 3)
            await first.disconnect()
            try await group.waitForAll()
        }
        try await firstStore.close()
        #expect(seen.withLockedValue { $0 }.isEmpty)

        // Second run, on the same file: the old emits go first, then the new one.
        proxy.setRefusing(false)
        let secondStore = SQLiteClientReliableStore(path: path)
        let second = try Self.manager(port: proxy.port, store: secondStore)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await second.run() }
            let socket = second.socket()
            let fourth = try await socket.emitReliable("send", 4)
            #expect(try await Self.within { try await fourth.answer() }.decode(Int.self, at: 0) == 4)
            let deviceID = try #require(connects.withLockedValue { $0.first?.deviceId })
            #expect(firstKeys + [fourth.key] == (1...4).map { "\(deviceID).\($0)" })
            let sends = seen.withLockedValue { $0 }
            #expect(sends.map(\.key) == firstKeys + [fourth.key])
            #expect(sends.map(\.number) == [1, 2, 3, 4])
            #expect(sends[1].data == Data([0, 1, 2, 255]))
            #expect(try await socket.outboxDepth() == 0)
            await second.disconnect()
            try await group.waitForAll()
        }
        #expect(try await secondStore.outbox(namespace: "/") == [])
        try await secondStore.close()
        await proxy.stop()
        await server.shutdown()
    }

    @Test func noMoreThanTheWindowIsInFlight() async throws {
        let held = NIOLockedValueBox<[SocketEvent]>([])
        let (server, port) = try await Self.server { socket in
            socket.on("send") { event in held.withLockedValue { $0.append(event) } }
            socket.on("ping") { event in try event.ack() }
        }
        var reliability = ClientReliability(store: InMemoryClientReliableStore(), window: 4)
        reliability.retryDelay = .milliseconds(50)
        let manager = try Self.manager(port: port, reliability: reliability)
        let socket = manager.socket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            var emits: [ReliableEmit] = []
            for number in 1...10 { emits.append(try await socket.emitReliable("send", number)) }
            #expect(await eventually { held.withLockedValue { $0.count } == 4 })
            // Whatever the client sent before this round trip has arrived by its end.
            _ = try await socket.emitWithAck("ping", timeout: .seconds(5))
            #expect(held.withLockedValue { $0.count } == 4)

            try held.withLockedValue { $0[0] }.ack("one")
            let firstEmit = emits[0]
            #expect(try await Self.within { try await firstEmit.answer() }.decode(String.self, at: 0) == "one")
            #expect(await eventually { held.withLockedValue { $0.count } == 5 })
            _ = try await socket.emitWithAck("ping", timeout: .seconds(5))
            #expect(held.withLockedValue { $0.count } == 5)

            var acknowledged = 1
            while acknowledged < 10 {
                #expect(await eventually { held.withLockedValue { $0.count } == min(10, acknowledged + 4) })
                try held.withLockedValue { [acknowledged] in $0[acknowledged] }.ack("more")
                acknowledged += 1
            }
            for emit in emits.dropFirst() { _ = try await Self.within { try await emit.answer() } }
            #expect(try held.withLockedValue { try $0.map { try $0.argument(0, as: Int.self) } } == Array(1...10))
            await manager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }

    @Test func anErrorAnswerFailsTheCallerAndStoreFailedIsRetriedLater() async throws {
        let seen = NIOLockedValueBox<[ServerSend]>([])
        let (server, port) = try await Self.server { socket in
            socket.on("send") { event in
                let send = try ServerSend(event)
                let tries = seen.withLockedValue { seen in
                    seen.append(send)
                    return seen.count { $0.key == send.key }
                }
                switch send.number {
                case 1: try event.ack(["parley": ["error": "key_reused", "message": "another payload"]])
                case 2 where tries < 3: try event.ack(["parley": ["error": "store_failed", "message": "disk full"]])
                default: try event.ack("done \(send.number)")
                }
            }
        }
        var reliability = ClientReliability(store: InMemoryClientReliableStore())
        reliability.retryDelay = .milliseconds(20)
        let manager = try Self.manager(port: port, reliability: reliability)
        let socket = manager.socket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            let refused = try await socket.emitReliable("send", 1)
            let flaky = try await socket.emitReliable("send", 2)
            let fine = try await socket.emitReliable("send", 3)
            await #expect {
                try await Self.within { try await refused.answer() }
            } throws: { error in
                guard let error = error as? ReliableEmitError else { return false }
                return error.code == .keyReused && error.message == "another payload" && error.key == refused.key
            }
            #expect(try await Self.within { try await fine.answer() }.decode(String.self, at: 0) == "done 3")
            #expect(try await Self.within { try await flaky.answer() }.decode(String.self, at: 0) == "done 2")
            let retries = seen.withLockedValue { $0 }.filter { $0.key == flaky.key }
            #expect(retries.count == 3)
            // Each retry sends the bytes of the first try.
            #expect(Set(retries.map(\.json)).count == 1)
            #expect(try await socket.outboxDepth() == 0)
            await manager.disconnect()
            try await group.waitForAll()
        }
        await server.shutdown()
    }

    @Test func withoutAReliableConfigurationReliableCallsThrow() async throws {
        let manager = try SocketManager(url: "http://127.0.0.1:9")
        let socket = manager.socket()
        await #expect { try await socket.emitReliable("send", 1) } throws: { ($0 as? ReliableEmitError)?.code == .notEnabled }
        await #expect { try await socket.history(room: "lobby") } throws: { ($0 as? RoomHistoryError)?.code == .notEnabled }
    }
}
