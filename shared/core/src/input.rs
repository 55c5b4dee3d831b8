//! What a request may carry before it reaches a key or a check: one invalid field (named as the client sent it)
//! and the length limits every parameter is held to. Pure rules, so the use cases validate with them and the HTTP
//! edge only turns the field errors into a problem body.

use serde::Serialize;

/// One invalid field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How long a request parameter may be. Values reach DynamoDB keys (a prefix becomes part of a sort key, an asset
/// name part of an index partition key) and HMAC checks; DynamoDB refuses sort keys over 1,024 bytes with an error
/// that would otherwise surface as a 500, so every parameter is bounded here, before any I/O, and an over-long one is
/// a 400 naming the parameter and its limit. Never the value itself: it may be megabytes of anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthLimit {
    /// Characters (Unicode scalar values): the limit a user reads.
    pub max_chars: usize,
    /// UTF-8 bytes: what DynamoDB measures. Only binds for text of mostly 3- and 4-byte characters.
    pub max_bytes: usize,
}

impl LengthLimit {
    /// Names and name prefixes (computer names, custom field names): a DNS name is at most 253 characters. 1,000
    /// bytes keep `ASSET#` + the lowercased value (lowercasing can grow a few characters by one byte each) within
    /// DynamoDB's 1,024-byte sort key, and `T#<tenant>#ASSET#` + it within the 2,048-byte partition key.
    pub const NAME: LengthLimit = LengthLimit {
        max_chars: 256,
        max_bytes: 1000,
    };
    /// Page tokens: the longest token the store signs (a findings cursor through the asset index, naming an asset
    /// with the longest key DynamoDB can store, base64 and signed) is about 2.2 KB; 4,096 leaves room and still
    /// refuses junk before it is decoded.
    pub const PAGE_TOKEN: LengthLimit = LengthLimit::ascii(4096);
    /// Enumerated values and numbers (`limit`, `status`, `active`, …): the longest accepted value is 14 characters.
    pub const KEYWORD: LengthLimit = LengthLimit::ascii(32);

    /// A limit for values that are ASCII when valid (bytes = characters).
    pub const fn ascii(max: usize) -> LengthLimit {
        LengthLimit {
            max_chars: max,
            max_bytes: max,
        }
    }

    /// `Ok` when `value` is within the limit; otherwise the field error naming `field` and the limit.
    pub fn check(&self, field: &str, value: &str) -> Result<(), FieldError> {
        let chars = value.chars().count();
        if chars > self.max_chars {
            return Err(FieldError::new(
                field,
                format!(
                    "is {chars} characters long; use at most {} characters",
                    self.max_chars
                ),
            ));
        }
        if value.len() > self.max_bytes {
            return Err(FieldError::new(
                field,
                format!(
                    "is {} bytes long in UTF-8; use at most {} bytes (and {} characters)",
                    value.len(),
                    self.max_bytes,
                    self.max_chars
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_bounded_in_characters_and_bytes() {
        let name = LengthLimit::NAME;
        assert!(name.check("name", &"a".repeat(256)).is_ok());
        let e = name.check("name", &"a".repeat(257)).expect_err("too long");
        assert_eq!(e.field, "name");
        assert!(
            e.message.contains("257") && e.message.contains("256"),
            "{e:?}"
        );
        // 250 four-byte characters: under the character limit, over the byte limit.
        let e = name
            .check("name", &"😀".repeat(251))
            .expect_err("too many bytes");
        assert!(e.message.contains("1000 bytes"), "{e:?}");
        assert!(LengthLimit::PAGE_TOKEN
            .check("pageToken", &"t".repeat(4096))
            .is_ok());
        assert!(LengthLimit::PAGE_TOKEN
            .check("pageToken", &"t".repeat(4097))
            .is_err());
    }
}
