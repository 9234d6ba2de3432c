#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension Channel {
    /// Closes with SO_LINGER 0, so the kernel resets the connection (RST) instead of ending it
    /// (FIN). Runs on the channel's loop.
    func resetAndClose() {
        guard let provider = self as? any SocketOptionProvider else {
            close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            self.close(promise: nil)  // with or without the option: the session ends either way
        }
    }

    /// Turns reading on or off; on the channel's loop the change is immediate.
    func setAutoRead(_ enabled: Bool) {
        // Best effort: a channel that is already closed has nothing left to read.
        try? syncOptions?.setOption(ChannelOptions.autoRead, value: enabled)
        if enabled { read() }
    }
}
