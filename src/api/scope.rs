//! The OAuth2 scopes of DIGG's message API (B1.4.2 §5.1), one per
//! operation.
//!
//! DIGG spells the send scope two ways: `urn:sdk.api:sendMessage` in the
//! OpenAPI document's operation and `urn:sdk.api:sendMessages` in its
//! security scheme and in B1.4.2. Both are accepted wherever a scope is
//! read (configuration, token requests, external tokens), and a token the
//! node issues carries both, so a client checking for either finds it.

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `sendMessage` (POST /sdk/messages).
    SendMessage,
    /// `getMessageByFilter` (GET /sdk/messages).
    GetMessageByFilter,
    /// `getMessageById` (GET /sdk/messages/{messageId}).
    GetMessage,
    /// `deleteMessageById` (DELETE /sdk/messages/{messageId}).
    DeleteMessage,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::SendMessage, Scope::GetMessageByFilter, Scope::GetMessage, Scope::DeleteMessage];

    /// The spelling of B1.4.2 and of the security scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SendMessage => "urn:sdk.api:sendMessages",
            Scope::GetMessageByFilter => "urn:sdk.api:getMessageByFilter",
            Scope::GetMessage => "urn:sdk.api:getMessage",
            Scope::DeleteMessage => "urn:sdk.api:deleteMessage",
        }
    }

    /// Every spelling the node accepts for this scope.
    pub fn spellings(self) -> &'static [&'static str] {
        match self {
            Scope::SendMessage => &["urn:sdk.api:sendMessages", "urn:sdk.api:sendMessage"],
            Scope::GetMessageByFilter => &["urn:sdk.api:getMessageByFilter"],
            Scope::GetMessage => &["urn:sdk.api:getMessage"],
            Scope::DeleteMessage => &["urn:sdk.api:deleteMessage"],
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.spellings().contains(&s))
    }

    /// Every accepted spelling, for error messages.
    pub fn all_names() -> Vec<&'static str> {
        Scope::ALL.iter().flat_map(|s| s.spellings().iter().copied()).collect()
    }
}

/// The `scope` value of a token or token response: every spelling of each
/// scope, space-separated (RFC 6749 §3.3).
pub fn scope_string(scopes: &[Scope]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in scopes {
        for n in s.spellings() {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    names.join(" ")
}

/// The known scopes in a space-separated `scope` value; unknown values are
/// returned separately.
pub fn parse_scope_string(text: &str) -> (Vec<Scope>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for part in text.split(' ').filter(|p| !p.is_empty()) {
        match Scope::parse(part) {
            Some(s) if !known.contains(&s) => known.push(s),
            Some(_) => {}
            None => unknown.push(part.to_owned()),
        }
    }
    (known, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_send_scope_are_one_scope() {
        assert_eq!(Scope::parse("urn:sdk.api:sendMessage"), Some(Scope::SendMessage));
        assert_eq!(Scope::parse("urn:sdk.api:sendMessages"), Some(Scope::SendMessage));
        assert_eq!(Scope::parse("urn:sdk.api:sendmessages"), None);
        let (known, unknown) = parse_scope_string("urn:sdk.api:sendMessage  urn:sdk.api:getMessage openid");
        assert_eq!(known, vec![Scope::SendMessage, Scope::GetMessage]);
        assert_eq!(unknown, vec!["openid".to_owned()]);
        assert_eq!(
            scope_string(&[Scope::SendMessage, Scope::DeleteMessage]),
            "urn:sdk.api:sendMessages urn:sdk.api:sendMessage urn:sdk.api:deleteMessage"
        );
    }
}
