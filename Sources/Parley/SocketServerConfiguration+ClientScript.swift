import NIOCore
import NIOHTTP1
import ParleyEngine

extension SocketServerConfiguration {
    /// Where the browser client is served.
    static let clientScriptPath = "/parley.js"

    /// The browser client as the engine serves it; built once for every server.
    static let clientScript = StaticFile(
        contentType: "text/javascript; charset=utf-8",
        body: ByteBuffer(string: ParleyClientScript.source),
        // Module scripts are fetched in CORS mode: a page of another origin imports it only
        // with this header. The script is public, and no credentials go with the request.
        headers: ["Access-Control-Allow-Origin": "*"],
        entityTag: ParleyClientScript.entityTag
    )

    /// The engine's settings, with the browser client among its static files when
    /// ``servesClientScript`` is on and the application put nothing at its path.
    var engineServingClientScript: EngineConfiguration {
        var engine = self.engine
        if servesClientScript, engine.staticFiles[Self.clientScriptPath] == nil {
            engine.staticFiles[Self.clientScriptPath] = Self.clientScript
        }
        return engine
    }
}
