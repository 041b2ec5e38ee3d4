//! The workspace's module structure, checked from the source: no module
//! imports one that imports it back, and no file under `src/` is left out of
//! the module tree.
//!
//! For every crate of the workspace and each of its roots (`lib.rs`,
//! `main.rs`), this reads the module tree from the `mod` declarations, then
//! every path that names a module of the same crate: `use crate::x`, `use
//! super::x`, `use self::x` (with `{...}` groups), and `crate::x::`,
//! `super::x::` and `self::x::` paths in code. A reference from module
//! `a::b::c` to `a::d::e` is an edge `b -> d` among the children of `a`, so
//! the top-level modules form one graph and the children of every directory
//! module (`cli/`, `engine/`, `import/`, ...) one graph each. A parent using
//! its child, or a child its parent, is how a directory module works and is
//! not an edge. Test code (`#[cfg(test)]` modules) is left out: fixtures may
//! use what they like. Not seen: a module reached through a re-export of the
//! crate root (`crate::Item` where lib.rs says `pub use x::Item`).
//!
//! Every cycle (A uses B and B uses A, or longer) fails the test, printed as
//! the path that closes it, unless `KNOWN_CYCLES` lists it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles that exist today and are being taken apart; each entry is (crate
/// root, parent module, the modules of the cycle). A cycle found that lies
/// within an entry passes; an entry that no longer matches any cycle fails,
/// so it is removed when its cycle is gone. This list is to be emptied, not
/// grown.
const KNOWN_CYCLES: &[(&str, &str, &[&str])] = &[];

/// A crate root: the label in messages (`loadgen lib`), and its file.
struct Root {
    label: String,
    file: PathBuf,
}

/// A module of one crate root: its path from the root and whether it is test code.
#[derive(Clone, Debug)]
struct Module {
    path: Vec<String>,
    test: bool,
}

/// A module file: where it is, its module, and the directory its `mod x;`
/// children live in.
struct ModFile {
    file: PathBuf,
    module: Module,
    children_dir: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("common/ sits in the workspace")
        .to_path_buf()
}

/// The workspace members, from the root Cargo.toml's `members = [...]`.
fn members(root: &Path) -> Vec<String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let start = toml
        .find("members")
        .expect("the workspace lists its members");
    let open = start + toml[start..].find('[').unwrap();
    let close = open + toml[open..].find(']').unwrap();
    toml[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Rust source with comments, strings and char literals blanked out (each
/// replaced by spaces, so offsets and line numbers stay), leaving the code.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut j, mut depth) = (i + 2, 1);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_end(b, i).is_some()
        {
            let end = raw_string_end(b, i).unwrap();
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', a multi-byte char); else a lifetime.
            let end = if b.get(i + 1) == Some(&b'\\') {
                // Past the backslash and the escaped char, to the closing quote.
                b.get(i + 3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| i + 3 + p + 1)
            } else {
                let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 2 + len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The end of a raw string literal (`r"..."`, `r#"..."#`, `br"..."`) at `i`.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + if b[i] == b'b' { 2 } else { 1 };
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let from = j + 1;
    (from..b.len())
        .find(|&k| b[k..].starts_with(&close))
        .map(|k| k + close.len())
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The identifier starting at `i` (empty if none).
fn ident_at(b: &[u8], i: usize) -> &str {
    let end = (i..b.len()).find(|&k| !is_ident(b[k])).unwrap_or(b.len());
    std::str::from_utf8(&b[i..end]).unwrap_or("")
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Whether the attributes just before offset `i` (back to the previous
/// item's end) hold `cfg(test)`.
fn cfg_test_before(code: &str, i: usize) -> bool {
    let before = &code[..i];
    let start = before.rfind([';', '{', '}']).map_or(0, |p| p + 1);
    before[start..].replace(' ', "").contains("cfg(test)")
}

/// The paths a `use` tree names, `{...}` groups expanded, `as` aliases and
/// globs dropped (a glob names its prefix).
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    fn parse(s: &[char], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
            if *i >= s.len() {
                break;
            }
            if s[*i] == '{' {
                *i += 1;
                loop {
                    parse(s, i, &path, out);
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    match s.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break;
                        }
                        _ => break,
                    }
                    while *i < s.len() && s[*i].is_whitespace() {
                        *i += 1;
                    }
                    if s.get(*i) == Some(&'}') {
                        *i += 1;
                        break;
                    }
                }
                return;
            }
            if s[*i] == '*' {
                *i += 1;
                break;
            }
            let start = *i;
            while *i < s.len() && (s[*i].is_alphanumeric() || s[*i] == '_') {
                *i += 1;
            }
            let word: String = s[start..*i].iter().collect();
            if word.is_empty() {
                break;
            }
            if word != "self" || path.is_empty() {
                path.push(word);
            }
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
            if s[*i..].starts_with(&[':', ':']) {
                *i += 2;
                continue;
            }
            // `as alias`: skip it.
            if s[*i..].starts_with(&['a', 's']) {
                *i += 2;
                while *i < s.len() && s[*i].is_whitespace() {
                    *i += 1;
                }
                while *i < s.len() && (s[*i].is_alphanumeric() || s[*i] == '_') {
                    *i += 1;
                }
            }
            break;
        }
        out.push(path);
    }
    let chars: Vec<char> = tree.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    parse(&chars, &mut i, &[], &mut out);
    out
}

/// What one file says: its `mod` declarations (name, inline?, test?, the
/// inline module path they sit in) and its module references (the inline
/// module path they sit in, whether in test code, the path, the line).
#[derive(Default)]
struct Scan {
    mods: Vec<(Vec<String>, String, bool, bool)>,
    refs: Vec<(Vec<String>, bool, Vec<String>, usize)>,
}

fn scan(src: &str) -> Scan {
    let code = code_only(src);
    let b = code.as_bytes();
    let line = |i: usize| code[..i].matches('\n').count() + 1;
    let mut scan = Scan::default();
    // Open inline modules: (name, depth inside, test).
    let mut stack: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let context = |stack: &[(String, usize, bool)]| -> (Vec<String>, bool) {
        (
            stack.iter().map(|s| s.0.clone()).collect(),
            stack.iter().any(|s| s.2),
        )
    };
    while i < b.len() {
        match b[i] {
            b'{' => {
                depth += 1;
                i += 1;
                continue;
            }
            b'}' => {
                if stack.last().is_some_and(|s| s.1 == depth) {
                    stack.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            c if is_ident(c) && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'$')) => {}
            _ => {
                i += 1;
                continue;
            }
        }
        let word = ident_at(b, i);
        let after = i + word.len();
        match word {
            "mod" => {
                let name_at = skip_ws(b, after);
                let name = ident_at(b, name_at).to_owned();
                let next = skip_ws(b, name_at + name.len());
                let (ctx, in_test) = context(&stack);
                let test = in_test || cfg_test_before(&code, i);
                match b.get(next) {
                    Some(b';') => scan.mods.push((ctx, name, false, test)),
                    Some(b'{') => {
                        scan.mods.push((ctx, name.clone(), true, test));
                        depth += 1;
                        stack.push((name, depth, test));
                        i = next + 1;
                        continue;
                    }
                    _ => {}
                }
                i = after;
            }
            "use" => {
                let end = code[after..].find(';').map_or(b.len(), |p| after + p);
                let (ctx, test) = context(&stack);
                for path in use_paths(&code[after..end]) {
                    scan.refs.push((ctx.clone(), test, path, line(i)));
                }
                i = end;
            }
            "crate" | "super" | "self" if code[after..].starts_with("::") => {
                let mut path = vec![word.to_owned()];
                let mut j = after;
                while code[j..].starts_with("::") {
                    let next = ident_at(b, j + 2);
                    if next.is_empty() {
                        break;
                    }
                    path.push(next.to_owned());
                    j += 2 + next.len();
                }
                let (ctx, test) = context(&stack);
                scan.refs.push((ctx, test, path, line(i)));
                i = j;
            }
            _ => i = after,
        }
    }
    scan
}

/// A crate root's module tree and every reference between its modules.
struct Tree {
    files: Vec<ModFile>,
    /// (from module, to module, file, line), test code left out.
    edges: Vec<(Vec<String>, Vec<String>, PathBuf, usize)>,
}

fn tree(root: &Root) -> Tree {
    let mut files = Vec::new();
    let mut modules: BTreeMap<Vec<String>, bool> = BTreeMap::new();
    let mut scans = Vec::new();
    let mut todo = vec![ModFile {
        file: root.file.clone(),
        module: Module {
            path: vec![],
            test: false,
        },
        children_dir: root.file.parent().unwrap().to_path_buf(),
    }];
    while let Some(f) = todo.pop() {
        let src = std::fs::read_to_string(&f.file)
            .unwrap_or_else(|e| panic!("{}: {e}", f.file.display()));
        let s = scan(&src);
        for (ctx, name, inline, test) in &s.mods {
            let mut path = f.module.path.clone();
            path.extend(ctx.iter().cloned());
            path.push(name.clone());
            let test = *test || f.module.test;
            modules.insert(path.clone(), test);
            if *inline {
                continue;
            }
            let mut dir = f.children_dir.clone();
            for c in ctx {
                dir.push(c);
            }
            let flat = dir.join(format!("{name}.rs"));
            let nested = dir.join(name).join("mod.rs");
            let (file, children_dir) = if flat.exists() {
                (flat, dir.join(name))
            } else if nested.exists() {
                (nested, dir.join(name))
            } else {
                panic!(
                    "{}: `mod {name};` has no file ({} or {})",
                    f.file.display(),
                    flat.display(),
                    nested.display()
                )
            };
            todo.push(ModFile {
                file,
                module: Module { path, test },
                children_dir,
            });
        }
        scans.push((f.file.clone(), f.module.clone(), s));
        files.push(f);
    }
    let mut edges = Vec::new();
    for (file, module, s) in &scans {
        for (ctx, test, path, line) in &s.refs {
            if *test || module.test {
                continue;
            }
            let mut here = module.path.clone();
            here.extend(ctx.iter().cloned());
            if let Some(target) = resolve(&here, path, &modules) {
                edges.push((here, target, file.clone(), *line));
            }
        }
    }
    Tree { files, edges }
}

/// The module a path from module `here` names (its longest prefix that is a
/// module), if it names one of this crate's.
fn resolve(
    here: &[String],
    path: &[String],
    modules: &BTreeMap<Vec<String>, bool>,
) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base = vec![];
            rest = &path[1..];
        }
        Some("self") => {
            base = here.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = here.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A path relative to this module names one of its children.
            let mut child = here.to_vec();
            child.push(first.to_owned());
            if !modules.contains_key(&child) {
                return None;
            }
            base = here.to_vec();
        }
        None => return None,
    }
    for c in rest {
        let mut next = base.clone();
        next.push(c.clone());
        if !modules.contains_key(&next) {
            break;
        }
        base = next;
    }
    Some(base)
}

/// The graphs: for each parent module, the edges among its children (with
/// one place each edge comes from).
type Graphs = BTreeMap<Vec<String>, BTreeMap<(String, String), String>>;

fn graphs(tree: &Tree, root: &Path) -> Graphs {
    let mut g: Graphs = BTreeMap::new();
    for (from, to, file, line) in &tree.edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common < from.len() && common < to.len() {
            let place = format!(
                "{}:{line}",
                file.strip_prefix(root).unwrap_or(file).display()
            );
            g.entry(from[..common].to_vec())
                .or_default()
                .entry((from[common].clone(), to[common].clone()))
                .or_insert(place);
        }
    }
    g
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(edges: &BTreeMap<(String, String), String>) -> Vec<BTreeSet<String>> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        adj.entry(a.as_str()).or_default().push(b.as_str());
        adj.entry(b.as_str()).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(v: &'a str, adj: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for &w in &adj[v] {
            if !s.index.contains_key(w) {
                visit(w, adj, s);
                let l = s.low[v].min(s.low[w]);
                s.low.insert(v, l);
            } else if s.on.contains(w) {
                let l = s.low[v].min(s.index[w]);
                s.low.insert(v, l);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                scc.insert(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for &v in adj.keys() {
        if !s.index.contains_key(v) {
            visit(v, &adj, &mut s);
        }
    }
    s.out
}

/// One cycle through a component, as `a -> b (file:line) -> ... -> a`.
fn show_cycle(scc: &BTreeSet<String>, edges: &BTreeMap<(String, String), String>) -> String {
    let start = scc.iter().next().unwrap().clone();
    // Breadth-first from start back to start, inside the component.
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    let mut closing = None;
    while let Some(v) = queue.pop_front() {
        for (a, b) in edges.keys().filter(|(a, b)| *a == v && scc.contains(b)) {
            if *b == start {
                closing = Some(a.clone());
                break;
            }
            if !prev.contains_key(b) {
                prev.insert(b.clone(), a.clone());
                queue.push_back(b.clone());
            }
        }
        if closing.is_some() {
            break;
        }
    }
    let mut path = vec![start.clone()];
    let mut v = closing.expect("a component of two or more nodes has a cycle");
    while v != start {
        path.push(v.clone());
        v = prev[&v].clone();
    }
    path.push(start);
    path.reverse();
    let mut text = path[0].clone();
    for pair in path.windows(2) {
        let at = &edges[&(pair[0].clone(), pair[1].clone())];
        text.push_str(&format!(" -> {} ({at})", pair[1]));
    }
    text
}

/// Every crate root of the workspace.
fn roots(ws: &Path) -> Vec<Root> {
    let mut roots = Vec::new();
    for member in members(ws) {
        for (kind, file) in [("lib", "lib.rs"), ("bin", "main.rs")] {
            let path = ws.join(&member).join("src").join(file);
            if path.exists() {
                roots.push(Root {
                    label: format!("{member} {kind}"),
                    file: path,
                });
            }
        }
    }
    roots
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let ws = workspace_root();
    let roots = roots(&ws);
    assert!(
        roots.len() >= 7,
        "found {} crate roots; the workspace has more",
        roots.len()
    );
    let mut found: Vec<(String, String, BTreeSet<String>, String)> = Vec::new();
    for root in &roots {
        let tree = tree(root);
        for (parent, edges) in graphs(&tree, &ws) {
            for scc in cycles(&edges) {
                let shown = show_cycle(&scc, &edges);
                found.push((root.label.clone(), parent.join("::"), scc, shown));
            }
        }
    }
    let known = |label: &str, parent: &str, scc: &BTreeSet<String>| {
        KNOWN_CYCLES.iter().any(|(l, p, mods)| {
            *l == label && *p == parent && scc.iter().all(|m| mods.contains(&m.as_str()))
        })
    };
    let new: Vec<String> = found
        .iter()
        .filter(|(l, p, scc, _)| !known(l, p, scc))
        .map(|(l, p, scc, shown)| {
            let at = if p.is_empty() {
                "top level".into()
            } else {
                format!("in {p}")
            };
            format!("  {l}, {at}: {scc:?}, e.g. {shown}")
        })
        .collect();
    let gone: Vec<String> = KNOWN_CYCLES
        .iter()
        .filter(|(l, p, mods)| {
            !found.iter().any(|(fl, fp, scc, _)| {
                fl == l && fp == p && scc.iter().all(|m| mods.contains(&m.as_str()))
            })
        })
        .map(|(l, p, mods)| format!("  {l} {p:?}: {mods:?}"))
        .collect();
    assert!(
        new.is_empty(),
        "module import cycles (take one direction out: move what both need into a module of its own, or pass it in):\n{}",
        new.join("\n")
    );
    assert!(
        gone.is_empty(),
        "these KNOWN_CYCLES are gone; remove them from common/tests/architecture.rs:\n{}",
        gone.join("\n")
    );
}

/// Every `.rs` file under `src/`, relative to `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_under_src_is_a_declared_module() {
    let ws = workspace_root();
    let mut dead = Vec::new();
    for member in members(&ws) {
        let src = ws.join(&member).join("src");
        let mut reached = BTreeSet::new();
        for root in roots(&ws).into_iter().filter(|r| r.file.starts_with(&src)) {
            for f in tree(&root).files {
                reached.insert(f.file);
            }
        }
        let mut all = Vec::new();
        rust_files(&src, &mut all);
        for file in all {
            if !reached.contains(&file) {
                dead.push(
                    file.strip_prefix(&ws)
                        .unwrap_or(&file)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(
        dead.is_empty(),
        "files no lib.rs or main.rs declares (a `mod` line is missing, or the file is dead): {dead:?}"
    );
}

/// The scanner itself, on small sources: each kind of reference, and what it
/// must not take for one.
#[test]
fn the_scanner_finds_module_references() {
    let src = r#"
//! Docs naming crate::doc_only.
use crate::{a::{self, X}, b as bee};
use super::c::*;
mod child;
#[cfg(test)]
mod tests {
    use crate::in_test;
}
mod inline {
    fn f() { super::d::g(); }
}
fn h() { let s = "crate::in_string"; let c = 'x'; let q = '\''; crate::e::f(); self::child::g(); }
fn l<'a>(x: &'a str) -> &'a str { crate::f::X; x }
"#;
    let s = scan(src);
    let refs: Vec<(String, bool, String)> = s
        .refs
        .iter()
        .map(|(ctx, test, p, _)| (ctx.join("::"), *test, p.join("::")))
        .collect();
    let want: Vec<(String, bool, String)> = [
        ("", false, "crate::a"),
        ("", false, "crate::a::X"),
        ("", false, "crate::b"),
        ("", false, "super::c"),
        ("tests", true, "crate::in_test"),
        ("inline", false, "super::d::g"),
        ("", false, "crate::e::f"),
        ("", false, "self::child::g"),
        ("", false, "crate::f::X"),
    ]
    .iter()
    .map(|(c, t, p)| (c.to_string(), *t, p.to_string()))
    .collect();
    assert_eq!(refs, want);
    let mods: Vec<(String, bool, bool)> = s
        .mods
        .iter()
        .map(|(_, n, inline, test)| (n.clone(), *inline, *test))
        .collect();
    assert_eq!(
        mods,
        [
            ("child".to_string(), false, false),
            ("tests".to_string(), true, true),
            ("inline".to_string(), true, false),
        ]
    );
    // Resolution: `super::` from a child, greedy over known modules.
    let modules: BTreeMap<Vec<String>, bool> = [
        vec!["engine"],
        vec!["engine", "recorder"],
        vec!["engine", "conductor"],
        vec!["report"],
    ]
    .into_iter()
    .map(|p| (p.into_iter().map(String::from).collect(), false))
    .collect();
    let v = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        resolve(
            &v(&["engine", "conductor"]),
            &v(&["super", "recorder", "Rec"]),
            &modules
        ),
        Some(v(&["engine", "recorder"]))
    );
    assert_eq!(
        resolve(
            &v(&["engine"]),
            &v(&["crate", "report", "Report"]),
            &modules
        ),
        Some(v(&["report"]))
    );
    assert_eq!(
        resolve(&v(&["engine"]), &v(&["std", "fmt"]), &modules),
        None
    );
    // A two-module cycle and a three-module one are found; a chain is not.
    let e = |pairs: &[(&str, &str)]| -> BTreeMap<(String, String), String> {
        pairs
            .iter()
            .map(|(a, b)| ((a.to_string(), b.to_string()), format!("{a}.rs:1")))
            .collect()
    };
    let two = e(&[("spec", "import"), ("import", "spec"), ("cli", "spec")]);
    let found = cycles(&two);
    assert_eq!(found.len(), 1);
    assert_eq!(
        show_cycle(&found[0], &two),
        "import -> spec (import.rs:1) -> import (spec.rs:1)"
    );
    let three = e(&[("engine", "report"), ("report", "live"), ("live", "engine")]);
    assert_eq!(cycles(&three).len(), 1);
    assert!(cycles(&e(&[("a", "b"), ("b", "c")])).is_empty());
}
