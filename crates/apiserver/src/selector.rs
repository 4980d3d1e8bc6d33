//! Label selectors (equality- and set-based) and the field selectors the API
//! server supports for every resource (`metadata.name`, `metadata.namespace`).
//!
//! The label-selector grammar, validation and error texts follow
//! apimachinery's `labels.Parse`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x)`, `a`, `!a`, `a gt 3` style `a>3`/`a<3`, comma meaning AND.
//! Keys must be qualified names, values valid label values; a bad key or
//! value is reported as the real parser does, e.g.
//! `unable to parse requirement: values[0][app]: Invalid value: "-x": a valid label must be ...`.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Syntax(String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
    /// A selector error the real server reports without the requirement
    /// prefix (e.g. `found ',', expected: identifier after ','`).
    #[error("{0}")]
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Exists,
    DoesNotExist,
    Equals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and deduplicated, as apimachinery keeps them.
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Equals | Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotEquals | Operator::NotIn => {
                !value.is_some_and(|v| self.values.contains(v))
            }
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    raw: String,
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub(crate) fn parse(raw: &str) -> Result<Self, SelectorError> {
        let tokens = lex(raw)?;
        let requirements = Parser {
            tokens,
            position: 0,
        }
        .parse()?;
        Ok(Self {
            raw: raw.to_string(),
            requirements,
        })
    }

    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches the `metadata.labels` of a whole object.
    #[cfg(test)]
    pub(crate) fn matches_object(&self, object: &Value) -> bool {
        if self.requirements.is_empty() {
            return true;
        }
        let labels: BTreeMap<String, String> = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }

    /// True when the selector selects everything.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The selector text as given.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.raw
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Identifier,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(raw: &str) -> Result<Vec<(Token, String)>, SelectorError> {
    let mut tokens = Vec::new();
    let mut chars = raw.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            let mut end = start;
            let mut token = None;
            // Longest match among the operators, as the real scanner does.
            while let Some(&(i, next)) = chars.peek() {
                if !is_special(next) {
                    break;
                }
                let candidate = &raw[start..i + next.len_utf8()];
                match symbol_token(candidate) {
                    Some(t) => {
                        token = Some(t);
                        end = i + next.len_utf8();
                        chars.next();
                    }
                    None => break,
                }
            }
            match token {
                Some(t) => tokens.push((t, raw[start..end].to_string())),
                None => {
                    return Err(SelectorError::Malformed(format!(
                        "error expected: keyword found '{c}'"
                    )));
                }
            }
            continue;
        }
        let mut end = start;
        while let Some(&(i, next)) = chars.peek() {
            if next.is_whitespace() || is_special(next) {
                break;
            }
            end = i + next.len_utf8();
            chars.next();
        }
        let word = &raw[start..end];
        let token = match word {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier,
        };
        tokens.push((token, word.to_string()));
    }
    tokens.push((Token::End, String::new()));
    Ok(tokens)
}

fn symbol_token(symbol: &str) -> Option<Token> {
    Some(match symbol {
        "!" => Token::DoesNotExist,
        "=" => Token::Equals,
        "==" => Token::DoubleEquals,
        "!=" => Token::NotEquals,
        ">" => Token::GreaterThan,
        "<" => Token::LessThan,
        "(" => Token::OpenParen,
        ")" => Token::CloseParen,
        "," => Token::Comma,
        _ => return None,
    })
}

/// Whether `in`/`notin` are keywords (operator position) or plain words (values).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn peek(&self, context: Context) -> (Token, String) {
        let index = self.position.min(self.tokens.len() - 1);
        let (token, literal) = self.tokens[index].clone();
        (Self::in_context(token, context), literal)
    }

    fn next(&mut self, context: Context) -> (Token, String) {
        let item = self.peek(context);
        if self.position < self.tokens.len() - 1 {
            self.position += 1;
        }
        item
    }

    fn in_context(token: Token, context: Context) -> Token {
        match (token, context) {
            (Token::In | Token::NotIn, Context::Values) => Token::Identifier,
            _ => token,
        }
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.peek(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    requirements.push(self.requirement().map_err(SelectorError::Syntax)?);
                    let (after, literal) = self.next(Context::Values);
                    match after {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let (following, literal) = self.peek(Context::Values);
                            if !matches!(following, Token::Identifier | Token::DoesNotExist) {
                                return Err(SelectorError::Malformed(format!(
                                    "found '{literal}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::Malformed(format!(
                                "found '{literal}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Token::End => return Ok(requirements),
                _ => {
                    return Err(SelectorError::Malformed(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (mut token, mut literal) = self.next(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, literal) = self.next(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let key = literal;
        if let Some(problem) = qualified_name_problems(&key) {
            return Err(format!("<nil>: Invalid value: {}: {problem}", quote(&key)));
        }
        let (following, _) = self.peek(Context::Values);
        if matches!(following, Token::End | Token::Comma) {
            let operator = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Ok(Requirement {
                key,
                operator,
                values: Vec::new(),
            });
        }
        let (token, literal) = self.next(Context::KeyAndOperator);
        let operator = match token {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals | Token::DoubleEquals => Operator::Equals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        let mut values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        values.sort();
        values.dedup();
        validate_requirement(&key, operator, &values)?;
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.next(Context::Values);
        if token != Token::OpenParen {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.peek(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.identifier_list()?;
                let (closing, _) = self.next(Context::Values);
                if closing != Token::CloseParen {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                Ok(values)
            }
            Token::CloseParen => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!(
                "found '{literal}', expected: ',', ')' or identifier"
            )),
        }
    }

    fn identifier_list(&mut self) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        loop {
            let (token, literal) = self.next(Context::Values);
            match token {
                Token::Identifier => {
                    values.push(literal);
                    let (following, literal) = self.peek(Context::Values);
                    match following {
                        Token::Comma => continue,
                        Token::CloseParen => return Ok(values),
                        _ => return Err(format!("found '{literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // `(,a)`, `(a,)` and `(a,,b)` each stand for an empty value too.
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (following, _) = self.peek(Context::Values);
                    if following == Token::CloseParen {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if following == Token::Comma {
                        self.next(Context::Values);
                        values.push(String::new());
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        let (token, _) = self.peek(Context::Values);
        if matches!(token, Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (token, literal) = self.next(Context::Values);
        if token == Token::Identifier {
            Ok(vec![literal])
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

fn validate_requirement(key: &str, operator: Operator, values: &[String]) -> Result<(), String> {
    let mut problems = Vec::new();
    if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
        for (index, value) in values.iter().enumerate() {
            if value.parse::<i64>().is_err() {
                problems.push(format!(
                    "values[{index}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                    quote(value)
                ));
            }
        }
    }
    for (index, value) in values.iter().enumerate() {
        if let Some(problem) = label_value_problems(value) {
            problems.push(format!(
                "values[{index}][{key}]: Invalid value: {}: {problem}",
                quote(value)
            ));
        }
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(format!("[{}]", problems.join(", "))),
    }
}

fn quote(text: &str) -> String {
    super::schema::go_quote(text)
}

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// apimachinery's `RegexError` text.
fn regex_error(message: &str, format: &str, examples: &[&str]) -> String {
    let examples = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("{message} (e.g. {examples}regex used for validation is '{format}')")
}

fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns1123_subdomain(name: &str) -> bool {
    name.split('.').all(|label| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                (first.is_ascii_lowercase() || first.is_ascii_digit())
                    && (last.is_ascii_lowercase() || last.is_ascii_digit())
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            }
            _ => false,
        }
    })
}

/// `validation.IsQualifiedName`, joined with "; " as the parser reports it.
fn qualified_name_problems(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut problems = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    problems.push("prefix part must be no more than 253 characters".to_string());
                }
                if !is_dns1123_subdomain(prefix) {
                    problems.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_MSG,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            *name
        }
        _ => {
            return Some(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        problems.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name_part(name) {
        problems.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// `validation.IsValidLabelValue`.
fn label_value_problems(value: &str) -> Option<String> {
    let mut problems = Vec::new();
    if value.len() > 63 {
        problems.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        problems.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataField {
    Name,
    Namespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: MetadataField,
    negated: bool,
    value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    raw: String,
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    pub(crate) fn parse(raw: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for part in split_unescaped_commas(raw) {
            if part.is_empty() {
                continue;
            }
            let Some((field, operator, value)) = split_term(&part) else {
                return Err(SelectorError::Malformed(format!(
                    "invalid selector: '{raw}'; can't understand '{part}'"
                )));
            };
            let value = unescape(value)?;
            let field = match field.trim() {
                "metadata.name" => MetadataField::Name,
                "metadata.namespace" => MetadataField::Namespace,
                other => return Err(SelectorError::UnsupportedField(other.to_string())),
            };
            terms.push(FieldTerm {
                field,
                negated: operator == "!=",
                value,
            });
        }
        Ok(Self {
            raw: raw.to_string(),
            terms,
        })
    }

    /// Matches against the whole object (only metadata fields are consulted).
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|term| {
            let key = match term.field {
                MetadataField::Name => "name",
                MetadataField::Namespace => "namespace",
            };
            let actual = object
                .get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == term.value) != term.negated
        })
    }

    /// The `metadata.name` this selector pins (`metadata.name=x`), which lets
    /// a watch or list skip everything else.
    #[cfg(test)]
    pub(crate) fn required_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == MetadataField::Name && !t.negated)
            .map(|t| t.value.as_str())
    }
}

fn split_unescaped_commas(raw: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (index, _) in term.char_indices() {
        let rest = &term[index..];
        for operator in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((&term[..index], operator, value));
            }
        }
    }
    None
}

fn unescape(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('\\' | ',' | '=')) => out.push(next),
                _ => {
                    return Err(SelectorError::Malformed(format!(
                        "invalid field selector: invalid escape sequence in {value:?}"
                    )));
                }
            },
            ',' | '=' => {
                return Err(SelectorError::Malformed(format!(
                    "invalid field selector: unescaped {c:?} in {value:?}"
                )));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        LabelSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .matches(&labels(pairs))
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(selects("", &[]));
        assert!(selects("  ", &[("a", "b")]));
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn equality_operators() {
        for selector in ["app=web", "app==web", " app = web "] {
            assert!(selects(selector, &[("app", "web")]), "{selector}");
            assert!(!selects(selector, &[("app", "db")]), "{selector}");
            assert!(!selects(selector, &[]), "{selector}");
        }
        assert!(selects("app!=web", &[("app", "db")]));
        assert!(selects("app!=web", &[]));
        assert!(!selects("app!=web", &[("app", "web")]));
        assert!(selects("app=", &[("app", "")]));
        assert!(!selects("app=", &[("app", "x")]));
    }

    #[test]
    fn set_operators_and_existence() {
        assert!(selects("env in (prod, staging)", &[("env", "staging")]));
        assert!(!selects("env in (prod,staging)", &[("env", "dev")]));
        assert!(!selects("env in (prod)", &[]));
        assert!(selects("env notin (prod)", &[("env", "dev")]));
        assert!(selects("env notin (prod)", &[]));
        assert!(!selects("env notin (prod)", &[("env", "prod")]));
        assert!(selects("env", &[("env", "")]));
        assert!(!selects("env", &[]));
        assert!(selects("!env", &[]));
        assert!(!selects("!env", &[("env", "x")]));
        // `in` and `notin` are ordinary words in value position.
        assert!(selects("word in (in,notin)", &[("word", "notin")]));
        assert!(selects("a in (,x)", &[("a", "")]));
    }

    #[test]
    fn comma_means_and() {
        let selector = "app=web,tier in (front),!legacy,release!=canary";
        assert!(selects(selector, &[("app", "web"), ("tier", "front")]));
        assert!(!selects(
            selector,
            &[("app", "web"), ("tier", "front"), ("legacy", "1")]
        ));
        assert!(!selects(
            selector,
            &[("app", "web"), ("tier", "front"), ("release", "canary")]
        ));
        assert!(!selects(selector, &[("app", "web")]));
    }

    #[test]
    fn numeric_comparisons() {
        assert!(selects("replicas>2", &[("replicas", "3")]));
        assert!(!selects("replicas>2", &[("replicas", "2")]));
        assert!(selects("replicas<2", &[("replicas", "1")]));
        assert!(!selects("replicas<2", &[("replicas", "x")]));
        assert!(LabelSelector::parse("replicas>x").is_err());
    }

    #[test]
    fn qualified_keys_are_accepted() {
        assert!(selects(
            "thoth-station.ninja/component=solver",
            &[("thoth-station.ninja/component", "solver")]
        ));
        assert!(selects(
            "app.kubernetes.io/name",
            &[("app.kubernetes.io/name", "x")]
        ));
    }

    #[test]
    fn bad_values_are_reported_like_apimachinery() {
        let error = LabelSelector::parse("app=-x").unwrap_err();
        assert!(matches!(error, SelectorError::Syntax(_)));
        assert_eq!(
            error.to_string(),
            "unable to parse requirement: values[0][app]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let too_long = "v".repeat(64);
        assert!(
            LabelSelector::parse(&format!("app={too_long}"))
                .unwrap_err()
                .to_string()
                .contains("must be no more than 63 characters")
        );
    }

    #[test]
    fn bad_keys_are_reported_like_apimachinery() {
        assert_eq!(
            LabelSelector::parse("-app=x").unwrap_err().to_string(),
            "unable to parse requirement: <nil>: Invalid value: \"-app\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        let prefixed = LabelSelector::parse("Bad_Prefix/app")
            .unwrap_err()
            .to_string();
        assert!(
            prefixed.contains("prefix part a lowercase RFC 1123 subdomain"),
            "{prefixed}"
        );
        let nested = LabelSelector::parse("a/b/c").unwrap_err().to_string();
        assert!(nested.contains("a qualified name must consist"), "{nested}");
        let empty_prefix = LabelSelector::parse("/a").unwrap_err().to_string();
        assert!(
            empty_prefix.contains("prefix part must be non-empty"),
            "{empty_prefix}"
        );
    }

    #[test]
    fn syntax_errors_name_what_was_found() {
        assert_eq!(
            LabelSelector::parse("app in prod").unwrap_err().to_string(),
            "unable to parse requirement: found 'prod' expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("app in (a b)")
                .unwrap_err()
                .to_string(),
            "unable to parse requirement: found 'b', expected: ',' or ')'"
        );
        assert_eq!(
            LabelSelector::parse("app=a,").unwrap_err().to_string(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            LabelSelector::parse("app=a b").unwrap_err().to_string(),
            "found 'b', expected: ',' or 'end of string'"
        );
        assert_eq!(
            LabelSelector::parse("=a").unwrap_err().to_string(),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            LabelSelector::parse("app (a)").unwrap_err().to_string(),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert!(LabelSelector::parse("app=!x").is_err());
    }

    #[test]
    fn selects_objects_by_their_labels() {
        let selector = LabelSelector::parse("app=web").unwrap();
        assert!(selector.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!selector.matches_object(&json!({"metadata": {}})));
        assert_eq!(selector.as_str(), "app=web");
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let object = json!({"metadata": {"name": "run-1", "namespace": "thoth"}});
        let cluster_scoped = json!({"metadata": {"name": "thoth"}});
        let sel = |s: &str| FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(sel("").matches(&object));
        assert!(sel("metadata.name=run-1").matches(&object));
        assert!(sel("metadata.name==run-1,metadata.namespace=thoth").matches(&object));
        assert!(!sel("metadata.name=run-2").matches(&object));
        assert!(sel("metadata.name!=run-2").matches(&object));
        assert!(!sel("metadata.namespace!=thoth").matches(&object));
        assert!(sel("metadata.namespace=").matches(&cluster_scoped));
        assert_eq!(sel("metadata.name=run-1").required_name(), Some("run-1"));
        assert_eq!(sel("metadata.name!=run-1").required_name(), None);
        assert!(sel("metadata.name=a\\,b").matches(&json!({"metadata": {"name": "a,b"}})));
    }

    #[test]
    fn unsupported_fields_and_malformed_field_selectors_are_refused() {
        assert_eq!(
            FieldSelector::parse("spec.solver=x").unwrap_err(),
            SelectorError::UnsupportedField("spec.solver".into())
        );
        assert_eq!(
            FieldSelector::parse("status.phase!=Done")
                .unwrap_err()
                .to_string(),
            "field label not supported: status.phase"
        );
        assert_eq!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
    }
}
