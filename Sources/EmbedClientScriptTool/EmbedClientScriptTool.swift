import Foundation

/// Writes a Swift source that holds a text file, for the build-tool plugin EmbedClientScript:
///
///     EmbedClientScriptTool INPUT OUTPUT
///
/// The output declares `enum ParleyClientScript` with the file's text (`source`) and an
/// entity tag of its bytes (`entityTag`), so a server binary carries the browser client
/// without a resource bundle next to it. Exits 1, naming the file, when the input cannot be
/// read or is not UTF-8.
@main
enum EmbedClientScriptTool {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 else { fail("usage: EmbedClientScriptTool INPUT OUTPUT", status: 2) }
        let input = URL(fileURLWithPath: arguments[1])
        let output = URL(fileURLWithPath: arguments[2])
        do {
            let bytes = try Data(contentsOf: input)
            guard let text = String(validating: bytes, as: UTF8.self) else { fail("\(input.path): error: not UTF-8 text") }
            let source = ScriptSource(name: input.lastPathComponent, text: text, entityTag: EntityTag.of(bytes))
            let generated = Data(source.swiftCode.utf8)
            // Leave an unchanged output alone, so that what depends on it is not compiled again.
            if (try? Data(contentsOf: output)) != generated {
                try generated.write(to: output, options: .atomic)
            }
        } catch {
            fail("\(input.path): error: \(error.localizedDescription)")
        }
    }

    static func fail(_ message: String, status: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(status)
    }
}
