//! Which kind of plugin a function is, and whether its signature fits that
//! kind: one argument of the right shape, a return type, nothing that cannot
//! be called once per event (`self`, `async`, type generics).

use syn::{FnArg, GenericParam, ItemFn, ReturnType, Type};

/// The three plugin shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Filter,
    Transform,
    Router,
}

impl Kind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Filter => "#[filter]",
            Kind::Transform => "#[transform]",
            Kind::Router => "#[router]",
        }
    }

    /// The whole contract, appended to every signature error.
    pub(crate) fn contract(self) -> &'static str {
        match self {
            Kind::Filter => {
                "a #[filter] function takes one `&Event` and returns `bool` or `Result<bool, E>`"
            }
            Kind::Transform => {
                "a #[transform] function takes one `Event` by value and returns `Event`, \
                 `Option<Event>`, `Vec<Event>` or a `Result` of one of them"
            }
            Kind::Router => {
                "a #[router] function takes one `&Event` and returns `Route` or `Result<Route, E>`"
            }
        }
    }

    /// Whether the function borrows its event (filters and routers only read).
    fn takes_reference(self) -> bool {
        self != Kind::Transform
    }
}

/// What the expansion needs from a function that passed the checks.
pub(crate) struct Signature<'f> {
    pub(crate) return_type: &'f Type,
}

/// Checks `function` against `kind`'s contract; the error points at the part
/// that is wrong.
pub(crate) fn check(kind: Kind, function: &ItemFn) -> syn::Result<Signature<'_>> {
    let sig = &function.sig;
    let error = |spanned: &dyn quote::ToTokens, problem: &str| {
        syn::Error::new_spanned(spanned, format!("{problem}; {}", kind.contract()))
    };
    if let Some(asyncness) = &sig.asyncness {
        return Err(error(
            asyncness,
            &format!("a {} function cannot be `async`", kind.attribute()),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(error(
            unsafety,
            &format!("a {} function cannot be `unsafe`", kind.attribute()),
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(error(
            abi,
            &format!("a {} function cannot be `extern`", kind.attribute()),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(error(
            variadic,
            &format!("a {} function cannot be variadic", kind.attribute()),
        ));
    }
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|param| !matches!(param, GenericParam::Lifetime(_)))
    {
        return Err(error(
            param,
            &format!("a {} function cannot be generic", kind.attribute()),
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        return Err(error(
            where_clause,
            &format!(
                "a {} function cannot have a `where` clause",
                kind.attribute()
            ),
        ));
    }
    if sig.inputs.len() != 1 {
        let message = format!(
            "a {} function takes exactly one argument, not {}; {}",
            kind.attribute(),
            sig.inputs.len(),
            kind.contract()
        );
        return Err(if sig.inputs.is_empty() {
            syn::Error::new(sig.paren_token.span.join(), message)
        } else {
            syn::Error::new_spanned(&sig.inputs, message)
        });
    }
    let argument = &sig.inputs[0];
    let ty = match argument {
        FnArg::Receiver(receiver) => {
            return Err(error(
                receiver,
                &format!("a {} function cannot take `self`", kind.attribute()),
            ));
        }
        FnArg::Typed(pattern) => &*pattern.ty,
    };
    match (kind.takes_reference(), ty) {
        (true, Type::Reference(reference)) if reference.mutability.is_some() => {
            return Err(error(
                ty,
                &format!(
                    "a {} function reads its event: take `&Event`, not `&mut Event`",
                    kind.attribute()
                ),
            ));
        }
        (true, Type::Reference(_)) | (false, Type::Path(_)) => {}
        (true, _) => {
            return Err(error(
                ty,
                &format!("a {} function takes `&Event`", kind.attribute()),
            ));
        }
        (false, _) => {
            return Err(error(
                ty,
                "a #[transform] function takes its `Event` by value",
            ));
        }
    }
    let ReturnType::Type(_, return_type) = &sig.output else {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!(
                "a {} function needs a return type; {}",
                kind.attribute(),
                kind.contract()
            ),
        ));
    };
    Ok(Signature { return_type })
}
