//! Host bindings generated from `wit/` (one `bindgen!` per world).
#![allow(missing_docs, reason = "generated from wit/, documented there")]

wasmtime::component::bindgen!({
    world: "injector",
    path: "../wit",
    imports: { default: trappable },
});

/// Bindings of the `validator` world; the `host` interface is shared with the injector's.
pub(crate) mod validator {
    wasmtime::component::bindgen!({
        world: "validator",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "chaoskit:plugin/host": super::chaoskit::plugin::host,
        },
    });
}
