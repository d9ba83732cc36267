//! The code each attribute emits next to the user's function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr};

use crate::args::{self, PluginArgs};
use crate::signature::{self, Kind};

/// Expands one attribute. On an error the function is still emitted as
/// written, so the error is the only one the user sees.
pub(crate) fn plugin(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                format!(
                    "{} goes on a function; {}",
                    kind.attribute(),
                    kind.contract()
                ),
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };
    match expand(kind, args, &function) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error)
        }
    }
}

fn expand(kind: Kind, args: TokenStream, function: &ItemFn) -> syn::Result<TokenStream> {
    let signature = signature::check(kind, function)?;
    let PluginArgs { name, tables } = args::parse(kind, args)?;
    let ident = &function.sig.ident;
    let name = name.unwrap_or_else(|| {
        let text = ident.to_string();
        LitStr::new(text.strip_prefix("r#").unwrap_or(&text), ident.span())
    });
    let table_names = tables.iter().map(|table| {
        let text = table.name.to_string();
        LitStr::new(text.strip_prefix("r#").unwrap_or(&text), table.name.span())
    });
    let table_schemas = tables.iter().map(|table| &table.schema);

    // Spanned at the return type, so a return type the SDK cannot turn into
    // an outcome is reported there.
    let returns = signature.return_type.span();
    let sdk = quote!(::sluice_sdk);
    let private = quote!(#sdk::__private);
    let (callback_type, callback, run) = match kind {
        Kind::Filter => (
            quote!(for<'r, 'e> fn(&'r #sdk::Event<'e>) -> #private::Outcome),
            quote_spanned!(returns=> |event| #private::FilterOutput::into_outcome(#ident(event))),
            quote!(#private::run_filter),
        ),
        Kind::Transform => (
            quote!(for<'e, 'n> fn(#sdk::Event<'e>, &'n mut #private::NewEvents) -> #private::Outcome),
            quote_spanned!(returns=> |event, new_events| {
                #private::TransformOutput::into_outcome(#ident(event), new_events)
            }),
            quote!(#private::run_transform),
        ),
        Kind::Router => (
            quote!(
                for<'r, 'e> fn(&'r #sdk::Event<'e>)
                    -> ::core::result::Result<#sdk::Route, ::std::string::String>
            ),
            quote_spanned!(returns=> |event| #private::RouterOutput::into_route(#ident(event))),
            quote!(#private::run_router),
        ),
    };
    let run = match kind {
        Kind::Router => quote!(#run(batch, TABLES, #callback)),
        Kind::Filter | Kind::Transform => quote!(#run(batch, #callback)),
    };

    Ok(quote! {
        #function

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            const TABLES: &[(&str, &str)] = &[#((#table_names, #table_schemas)),*];

            struct Plugin;

            impl #sdk::bindings::Guest for Plugin {
                fn describe() -> #sdk::bindings::Info {
                    #private::describe(#name, ::core::env!("CARGO_PKG_VERSION"), TABLES)
                }

                fn process(batch: #sdk::bindings::Batch) -> #sdk::bindings::Output {
                    #run
                }
            }

            #sdk::bindings::export!(Plugin);
        };

        // Natively there is nothing to export; type-check the function
        // against the runner instead, so tests report the same errors.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: #callback_type = #callback;
        };
    })
}
