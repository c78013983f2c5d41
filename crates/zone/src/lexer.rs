//! Splitting master-file text into entries and tokens (RFC 1035 §5.1).
//!
//! An entry is one logical line: the tokens of a physical line, extended over
//! following lines while a parenthesis is open. `;` starts a comment that runs
//! to the end of the line. A token is either a run of characters without
//! blanks or special characters (`(`, `)`, `;`, `"`), in which a backslash
//! escapes the next character, or a quoted string. Tokens keep their escapes:
//! names and character strings decode them differently.
//!
//! # Limitations
//! - Nested parentheses and raw line breaks inside quoted strings are errors.
//! - Columns count Unicode scalar values; a tab counts as one column.

use crate::ZoneError;

/// A line and column in the text, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// An error at this position.
    pub fn error(self, message: impl Into<String>) -> ZoneError {
        ZoneError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// One token with its escapes intact.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token<'a> {
    /// The raw text; for a quoted string, what lies between the quotes.
    pub text: &'a str,
    /// Whether the token was a quoted string.
    pub quoted: bool,
    /// Where the token starts (for a quoted string, the opening quote).
    pub position: Position,
}

impl Token<'_> {
    /// An error at this token.
    pub fn error(&self, message: impl Into<String>) -> ZoneError {
        self.position.error(message)
    }

    /// Whether this is the unquoted token `text`, compared without case.
    pub fn is(&self, text: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(text)
    }
}

/// One logical line of a master file.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    /// The tokens in order; never empty.
    pub tokens: Vec<Token<'a>>,
    /// Whether the line started with a blank, so that the owner field is empty.
    pub blank_owner: bool,
    /// The position just after the last token, for "missing field" errors.
    pub end: Position,
}

/// Reads entries from master-file text in one pass.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    offset: usize,
    position: Position,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text,
            bytes: text.as_bytes(),
            offset: 0,
            position: Position { line: 1, column: 1 },
        }
    }

    /// The position just past the end of the text.
    pub fn end_position(text: &str) -> Position {
        let mut lexer = Lexer::new(text);
        while lexer.peek().is_some() {
            lexer.advance();
        }
        lexer.position
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    /// Moves past one byte, keeping line and column (in characters) current.
    fn advance(&mut self) {
        let Some(byte) = self.peek() else {
            return;
        };
        self.offset += 1;
        if byte == b'\n' {
            self.position.line += 1;
            self.position.column = 1;
        } else if byte & 0xc0 != 0x80 {
            self.position.column += 1;
        }
    }

    /// The next entry, or `None` at the end of the text.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ZoneError> {
        loop {
            if self.peek().is_none() {
                return Ok(None);
            }
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            let mut open: Option<Position> = None;
            let mut end = self.position;
            loop {
                let Some(byte) = self.peek() else {
                    if let Some(position) = open {
                        return Err(position.error("parenthesis not closed"));
                    }
                    break;
                };
                match byte {
                    b' ' | b'\t' | b'\r' => self.advance(),
                    b'\n' => {
                        self.advance();
                        if open.is_none() {
                            break;
                        }
                    }
                    b';' => {
                        while !matches!(self.peek(), None | Some(b'\n')) {
                            self.advance();
                        }
                    }
                    b'(' => {
                        if open.is_some() {
                            return Err(self.position.error("nested parenthesis"));
                        }
                        open = Some(self.position);
                        self.advance();
                    }
                    b')' => {
                        if open.is_none() {
                            return Err(self.position.error("')' without a matching '('"));
                        }
                        open = None;
                        self.advance();
                    }
                    b'"' => {
                        tokens.push(self.quoted()?);
                        end = self.position;
                    }
                    _ => {
                        tokens.push(self.plain()?);
                        end = self.position;
                    }
                }
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    tokens,
                    blank_owner,
                    end,
                }));
            }
        }
    }

    fn plain(&mut self) -> Result<Token<'a>, ZoneError> {
        let start = self.offset;
        let position = self.position;
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    let escape = self.position;
                    self.advance();
                    if matches!(self.peek(), None | Some(b'\n' | b'\r')) {
                        return Err(escape.error("backslash at the end of a line"));
                    }
                    self.advance();
                }
                _ => self.advance(),
            }
        }
        Ok(Token {
            text: &self.text[start..self.offset],
            quoted: false,
            position,
        })
    }

    fn quoted(&mut self) -> Result<Token<'a>, ZoneError> {
        let position = self.position;
        self.advance();
        let start = self.offset;
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(position.error("quoted string not closed on its line"));
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    self.advance();
                    if matches!(self.peek(), None | Some(b'\n')) {
                        return Err(position.error("quoted string not closed on its line"));
                    }
                    self.advance();
                }
                Some(_) => self.advance(),
            }
        }
        let text = &self.text[start..self.offset];
        self.advance();
        Ok(Token {
            text,
            quoted: true,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Vec<(String, usize, usize)>> {
        let mut lexer = Lexer::new(text);
        let mut all = Vec::new();
        while let Some(entry) = lexer.next_entry().unwrap() {
            all.push(
                entry
                    .tokens
                    .iter()
                    .map(|token| {
                        (
                            token.text.to_owned(),
                            token.position.line,
                            token.position.column,
                        )
                    })
                    .collect(),
            );
        }
        all
    }

    #[test]
    fn parentheses_join_lines_and_comments_end_them() {
        let text = "a 1 ( 2 ; comment\n  3 )\n; only a comment\n\n b \"x y\\\"\" ;c\n";
        let found = entries(text);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
            ["a", "1", "2", "3"]
        );
        assert_eq!(found[0][3], ("3".to_owned(), 2, 3));
        assert_eq!(found[1][1], ("x y\\\"".to_owned(), 5, 4));
    }

    #[test]
    fn reports_unbalanced_parentheses_and_quotes() {
        let error = Lexer::new("a (\n b").next_entry().unwrap_err();
        assert_eq!((error.line, error.column), (1, 3));
        let error = Lexer::new("a )").next_entry().unwrap_err();
        assert_eq!((error.line, error.column), (1, 3));
        let error = Lexer::new("a \"open\nb").next_entry().unwrap_err();
        assert_eq!((error.line, error.column), (1, 3));
        let error = Lexer::new("a ( ( )").next_entry().unwrap_err();
        assert_eq!((error.line, error.column), (1, 5));
    }

    #[test]
    fn columns_count_characters() {
        let found = entries("äö x");
        assert_eq!(found[0][1], ("x".to_owned(), 1, 4));
    }
}
