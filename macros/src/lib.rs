//! `#[chaos_fn]`: a named chaos point at a function's entry, without editing its body.
//!
//! Use it through `chaoskit::chaos_fn` (the `chaoskit-host` package re-exports it); the
//! generated code names the `chaoskit` crate.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, LitStr, Meta, Path, ReturnType, Token, Type};

/// How an injected error leaves the function.
enum OnError {
    /// `Err(From::from(chaos_error))` for a `Result`, a panic otherwise.
    Infer,
    /// `error = path`: `Err(path(chaos_error))`.
    Convert(Path),
    /// `default`: `Default::default()`.
    Default,
}

struct Options {
    name: Option<LitStr>,
    on_error: OnError,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut options = Options { name: None, on_error: OnError::Infer };
        for meta in Punctuated::<Meta, Token![,]>::parse_terminated(input)? {
            match &meta {
                Meta::NameValue(nv) if nv.path.is_ident("name") => match &nv.value {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => options.name = Some(s.clone()),
                    other => return Err(syn::Error::new(other.span(), "`name` takes a string: name = \"db::write\"")),
                },
                Meta::NameValue(nv) if nv.path.is_ident("error") => match &nv.value {
                    Expr::Path(p) => options.on_error = OnError::Convert(p.path.clone()),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`error` takes a function path: error = MyError::from_chaos (fn(chaoskit::ChaosError) -> E)",
                        ));
                    }
                },
                Meta::Path(p) if p.is_ident("default") => options.on_error = OnError::Default,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "unknown option; valid: `name = \"...\"`, `error = path::to::conversion`, `default`",
                    ));
                }
            }
        }
        Ok(options)
    }
}

/// Whether the declared return type is spelled `...Result<...>`.
fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// Puts a chaos point named `module::path::function` at the entry of a fn or async fn.
///
/// Inside a chaoskit run whose scenario has a failpoint injector matching that name (or a
/// glob such as `shop::*`), the point is decided like any failpoint (seeded, journaled):
/// a delay sleeps (asynchronously in an `async fn`), a panic panics, an error returns early:
///
/// - `#[chaos_fn]`: `Err(From::from(chaoskit::ChaosError))` when the function returns a
///   `Result` (works with `anyhow::Error`, `Box<dyn Error>` or any `E: From<ChaosError>`);
///   a function that cannot fail panics with the error's message instead.
/// - `#[chaos_fn(error = path)]`: `Err(path(chaos_error))`, with `path: fn(ChaosError) -> E`.
/// - `#[chaos_fn(default)]`: returns `Default::default()`.
/// - `#[chaos_fn(name = "custom::name")]`: another site name (e.g. `Type::method`).
///
/// Outside such a run it costs one relaxed atomic load (`fail::cfg` can configure the
/// site by name too, with the `fail` grammar).
#[proc_macro_attribute]
pub fn chaos_fn(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as Options);
    let mut func = syn::parse_macro_input!(item as ItemFn);
    expand(options, &mut func).unwrap_or_else(syn::Error::into_compile_error).into()
}

fn expand(options: Options, func: &mut ItemFn) -> syn::Result<TokenStream2> {
    let ident = &func.sig.ident;
    let span = func.sig.ident.span();
    let name = match &options.name {
        Some(lit) => quote!(#lit),
        None => quote!(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident))),
    };
    let fail = match &options.on_error {
        OnError::Convert(path) => quote!(return ::core::result::Result::Err(#path(__chaoskit_error))),
        OnError::Default => quote!(return ::core::default::Default::default()),
        OnError::Infer if returns_result(&func.sig.output) => {
            quote!(return ::core::result::Result::Err(::core::convert::From::from(__chaoskit_error)))
        }
        OnError::Infer => quote!(::std::panic::panic_any(__chaoskit_error.message)),
    };
    let apply = if func.sig.asyncness.is_some() {
        quote!(::chaoskit::fail::function_fault_async(__chaoskit_fault, __CHAOSKIT_SITE.name()).await)
    } else {
        quote!(::chaoskit::fail::function_fault(__chaoskit_fault, __CHAOSKIT_SITE.name()))
    };
    let entry = quote_spanned! {span=>
        {
            static __CHAOSKIT_SITE: ::chaoskit::fail::Site = ::chaoskit::fail::Site::new(#name);
            if let ::core::option::Option::Some(__chaoskit_fault) = __CHAOSKIT_SITE.decide() {
                if let ::core::option::Option::Some(__chaoskit_error) = #apply {
                    #fail;
                }
            }
        }
    };
    let entry: syn::Stmt = syn::parse2(entry)?;
    func.block.stmts.insert(0, entry);
    Ok(quote!(#func))
}
