//! Host bindings generated from `wit/` (one `bindgen!` per world), plus the frozen 0.1.0 `host`
//! interface that older plugins import.
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

/// Bindings of the `toxic` world (a stream filter of the chaos proxy); `host` is shared.
pub(crate) mod toxic {
    wasmtime::component::bindgen!({
        world: "toxic",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "chaoskit:plugin/host": super::chaoskit::plugin::host,
        },
    });
}

/// The `host` interface of contract 0.1.0 (`wit/compat/0.1.0`), linked beside 0.2.0's so a
/// plugin built against the older contract still loads; its functions are the same.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "injector",
        path: "../wit/compat/0.1.0",
        imports: { default: trappable },
    });
}
