import Foundation
import PackagePlugin

/// Compiles the browser client `Resources/parley.js` of the target it is applied to into that
/// target, as `enum ParleyClientScript` (see `EmbedClientScriptTool`). The script is the
/// command's input, so editing it regenerates the source on the next build.
@main
struct EmbedClientScript: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let script = target.directoryURL.appending(path: "Resources/parley.js")
        let output = context.pluginWorkDirectoryURL.appending(path: "ParleyClientScript.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(script.lastPathComponent) in \(target.name)",
                executable: try context.tool(named: "EmbedClientScriptTool").url,
                arguments: [script.path(percentEncoded: false), output.path(percentEncoded: false)],
                inputFiles: [script],
                outputFiles: [output]
            ),
        ]
    }
}
