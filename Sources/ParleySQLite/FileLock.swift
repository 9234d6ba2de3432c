#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ParleyStore

/// An exclusive `flock` on a lock file next to a database, held while its store is open and
/// released by the kernel when the process ends, however it ends.
final class FileLock: Sendable {
    private let descriptor: Int32

    /// Creates the lock file if needed and locks it.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/inUse`` when another process (or another
    ///   store of this one) holds the lock, ``StoreError/Code/cannotOpen`` when the file cannot
    ///   be created or locked.
    init(path: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.cannotOpen, path: path, detail: "cannot create the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw StoreError(.inUse, path: path, detail: "another process has this store open")
            }
            throw StoreError(.cannotOpen, path: path, detail: "cannot lock: \(String(cString: strerror(reason)))")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}
