// `import Parley` is enough to write a server: the wire types (arguments, messages) and the
// engine's configuration types come with it.
@_exported public import ParleyEngine
@_exported public import ParleyProtocol
@_exported public import ParleyStore
