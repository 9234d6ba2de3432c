import NIOCore
import ParleyProtocol

/// One input is a candidate JSON text.
///
/// Invariants: located values lie inside the input and start with the byte their kind
/// implies; the first element lies inside its array; `firstElement(ofArray:)` agrees with a
/// full scan whenever the full scan succeeds; surrounding the input with whitespace changes
/// nothing but the offsets.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONScanner(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let summary = try? JSONScanner.scan(bytes)
    let first = try? JSONScanner.firstElement(ofArray: bytes)
    var padded = ByteBuffer(string: " \n")
    padded.writeBytes(bytes)
    padded.writeString("\t ")
    let paddedSummary = try? JSONScanner.scan(padded)
    precondition((summary == nil) == (paddedSummary == nil), "whitespace around the value changed validity")
    guard let summary else { return 0 }

    let value = summary.value
    precondition(value.range.lowerBound >= 0 && value.range.upperBound <= size && !value.range.isEmpty, "value range \(value.range) outside \(size) bytes")
    check(value, in: bytes)
    if let element = summary.firstElement {
        precondition(value.kind == .array, "a first element outside an array")
        precondition(element.range.lowerBound > value.range.lowerBound && element.range.upperBound < value.range.upperBound, "first element \(element.range) outside \(value.range)")
        check(element, in: bytes)
    } else if value.kind == .array {
        let inner = bytes[(value.range.lowerBound + 1)..<(value.range.upperBound - 1)]
        precondition(inner.allSatisfy { [0x20, 0x09, 0x0A, 0x0D].contains($0) }, "a non-empty array without a first element")
    }
    precondition(first == summary.firstElement, "firstElement(ofArray:) \(String(describing: first)) != scan \(String(describing: summary.firstElement))")
    let shifted = paddedSummary!
    precondition(shifted.value.range == value.range.lowerBound + 2..<value.range.upperBound + 2 && shifted.value.kind == value.kind)
    return 0
}

private func check(_ value: JSONScanner.Value, in bytes: UnsafeRawBufferPointer) {
    let lead = bytes[value.range.lowerBound]
    let last = bytes[value.range.upperBound - 1]
    switch value.kind {
    case .object: precondition(lead == UInt8(ascii: "{") && last == UInt8(ascii: "}"))
    case .array: precondition(lead == UInt8(ascii: "[") && last == UInt8(ascii: "]"))
    case .string: precondition(lead == UInt8(ascii: "\"") && last == UInt8(ascii: "\"") && value.range.count >= 2)
    case .number: precondition(lead == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(lead))
    case .boolean: precondition(value.range.count == 4 || value.range.count == 5)
    case .null: precondition(value.range.count == 4 && lead == UInt8(ascii: "n"))
    }
}
