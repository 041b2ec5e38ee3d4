//! Where each value of a YAML document is written: a map from paths such as
//! `load.stages.1.target` to line:column, built from the YAML parser's
//! events, so a validation error points at the value it is about (also
//! inside the tagged `load:` block, where serde keeps no locations).

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// Line and column (1-based) of each node, by path.
#[derive(Debug, Default)]
pub struct Locations {
    at: HashMap<String, (u64, u64)>,
}

enum Frame {
    /// A mapping at `path`; `key` is the key whose value comes next.
    Map { path: String, key: Option<String> },
    /// A sequence at `path`; `next` is the index of the next item.
    Seq { path: String, next: usize },
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

impl Locations {
    /// Reads the locations of `text`. A document the parser refuses yields
    /// the locations read up to the error (the deserializer reports the
    /// error itself). Aliases are not expanded: a path through an alias
    /// resolves to the alias.
    pub fn of(text: &str) -> Self {
        let mut at = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let start = matches!(
                event,
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(_)
            );
            if start {
                // Where this node sits: a key, a mapping value, a sequence item, or the root.
                let path = match stack.last_mut() {
                    None => Some(String::new()),
                    Some(Frame::Seq { path, next }) => {
                        let p = join(path, &next.to_string());
                        *next += 1;
                        Some(p)
                    }
                    Some(Frame::Map { path, key }) => match key.take() {
                        Some(k) => Some(join(path, &k)),
                        None => {
                            // A key: scalars name the value that follows; complex keys never match a path.
                            *key = Some(match &event {
                                Event::Scalar(s, ..) => s.to_string(),
                                _ => "\u{0}".to_owned(),
                            });
                            None
                        }
                    },
                };
                let location = (span.start.line() as u64, span.start.col() as u64 + 1);
                let child = match &path {
                    Some(p) => {
                        at.entry(p.clone()).or_insert(location);
                        p.clone()
                    }
                    None => "\u{0}".to_owned(),
                };
                match event {
                    Event::MappingStart(..) => stack.push(Frame::Map {
                        path: child,
                        key: None,
                    }),
                    Event::SequenceStart(..) => stack.push(Frame::Seq {
                        path: child,
                        next: 0,
                    }),
                    _ => {}
                }
            } else if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
            }
        }
        Self { at }
    }

    /// Whether `path` itself is written.
    pub fn has(&self, path: &str) -> bool {
        self.at.contains_key(path)
    }

    /// The location of `path`, or of its nearest written ancestor, or 1:1.
    pub fn get(&self, path: &str) -> (u64, u64) {
        let mut p = path;
        loop {
            if let Some(l) = self.at.get(p) {
                return *l;
            }
            match p.rsplit_once('.') {
                Some((parent, _)) => p = parent,
                None if !p.is_empty() => p = "",
                None => return (1, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_the_value_they_name() {
        let text = "base_url: http://h\n# timeout: 1s in a comment\ntimeout: 5s\nload:\n  model: open\n  stages:\n    - {duration: 1s, target: 5}\n    - duration: 2s\n      target: 7\nscenarios: &s []\nother: *s\n";
        let l = Locations::of(text);
        assert_eq!(l.get("timeout"), (3, 10));
        assert_eq!(l.get("load.model"), (5, 10));
        assert_eq!(l.get("load.stages.0.target"), (7, 30));
        assert_eq!(l.get("load.stages.1.target"), (9, 15));
        assert_eq!(l.get("other"), (11, 8));
        // Missing paths fall back to the nearest ancestor that is written.
        assert_eq!(l.get("load.max_queue"), l.get("load"));
        assert_eq!(l.get("other.0.x"), (11, 8));
        assert_eq!(Locations::of("").get("x"), (1, 1));
        assert_eq!(Locations::of("a: [").get("a.0"), (1, 4));
    }
}
