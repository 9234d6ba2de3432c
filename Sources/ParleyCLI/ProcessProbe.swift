#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads another process's CPU time and resident memory from /proc (Linux only).
///
/// CPU time is utime + stime of /proc/PID/stat, in clock ticks (`sysconf(_SC_CLK_TCK)`, usually
/// 100 per second, so each reading is exact to 10 ms: measure windows of seconds, not
/// milliseconds). RSS is VmRSS of /proc/PID/status.
struct ProcessProbe: Sendable {
    let pid: Int32

    /// The process's user + system CPU time in microseconds, or `nil` if it cannot be read.
    func cpuMicroseconds() -> UInt64? {
        guard let text = Self.readFile("/proc/\(pid)/stat"), let nameEnd = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name start with field 3 (state); utime is 14, stime 15.
        let fields = text[text.index(after: nameEnd)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        let ticksPerSecond = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return (user + system) * 1_000_000 / ticksPerSecond
    }

    /// The process's resident set size in KiB, or `nil` if it cannot be read.
    func residentKiB() -> UInt64? {
        guard let text = Self.readFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            // "VmRSS:\t  123456 kB"
            return line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { UInt64($0) }
        }
        return nil
    }

    /// This process's own user + system CPU time in microseconds.
    static func ownCPUMicroseconds() -> UInt64 {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func micros(_ time: timeval) -> UInt64 { UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_usec) }
        return micros(usage.ru_utime) + micros(usage.ru_stime)
    }

    /// Raises this process's open-file soft limit to the hard limit; returns the new soft limit.
    @discardableResult
    static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Reads a whole (proc) file; /proc files report size 0, so read until end of file.
    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
