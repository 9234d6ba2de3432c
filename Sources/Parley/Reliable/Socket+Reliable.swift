import Foundation
import NIOCore
import Synchronization

extension Socket {
    /// The user the application named for this socket (``identify(user:)``, or
    /// `SocketHandshake.identify(user:)` in a middleware); `nil` until then.
    public var user: String? { state.withLock { $0.user } }

    /// Names the user this socket belongs to: `Namespace.user(_:)` then reaches it, and with
    /// reliable delivery on, the user's queued messages start going out to it
    /// (`Protocol/reliable.md` § 3.2). A socket belongs to one user; naming another one moves it.
    public func identify(user: String) {
        let (changed, ready) = state.withLock { state -> (Bool, Bool) in
            defer { state.user = user }
            return (state.user != user, state.ready)
        }
        data[ReliableIdentity.userDataKey] = user
        namespace.adapter.identify(id, user: user)
        if changed, ready { namespace.core.reliable?.socketReady(self) }
    }

    /// The connection handlers ran (the client has its CONNECT reply): delivery may start.
    func becameReady() {
        let user = state.withLock { state -> String? in
            state.ready = true
            return state.user
        }
        guard let user else { return }
        namespace.adapter.identify(id, user: user)
        namespace.core.reliable?.socketReady(self)
    }
}

/// Who a socket is, for reliable delivery (`Protocol/reliable.md` § 1).
enum ReliableIdentity {
    /// Where the user id is kept in ``SocketData``, so that a recovered socket keeps it.
    static let userDataKey = "parley.user"

    /// The `deviceId` of a CONNECT payload; `nil` when absent.
    static func deviceID(in auth: ByteBuffer?) -> String? {
        guard case .valid(let device)? = parseDeviceID(in: auth) else { return nil }
        return device
    }

    enum DeviceField {
        case valid(String)
        case invalid
    }

    /// The `deviceId` field of a CONNECT payload: absent (`nil`), valid, or present but not
    /// a valid device id.
    static func parseDeviceID(in auth: ByteBuffer?) -> DeviceField? {
        guard let auth, auth.readableBytesView.contains(UInt8(ascii: "d")) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(auth.readableBytesView)) as? [String: Any],
            let field = object["deviceId"]
        else { return nil }
        guard let device = field as? String, ReliableMarker.isValidDeviceID(device) else { return .invalid }
        return .valid(device)
    }
}
