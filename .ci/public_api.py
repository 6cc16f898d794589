#!/usr/bin/env python3
"""The public API of the `ryw` facade, one item per line, from cargo-public-api listings.

cargo-public-api renders a crate's own items; items the facade re-exports from its building
blocks (`ryw-core`, `ryw-diesel`) appear in the facade's listing only as `pub use` lines. This
script expands each such re-export into the building block's lines for that item (its
methods, fields, variants and trait impls), renamed to the path a user writes (`ryw::…`), so
that the listing is what a user of `ryw` can name.

usage: public_api.py DOC_DIR FACADE_LISTING CRATE=LISTING...
  DOC_DIR: the directory holding the rustdoc JSON files (ryw.json, ryw_core.json, …)
Lines that still name a building block after renaming (a type in the facade's signatures that
the facade does not export) are reported on stderr and make the exit status 1.
"""

import json
import re
import sys

PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*")


def load(doc_dir, crate):
    with open(f"{doc_dir}/{crate}.json", encoding="utf-8") as f:
        return json.load(f)


def entries(doc):
    """(path, item id, the `use` or None) for every public name of the crate's module tree,
    following re-exported local modules and globs."""
    index = doc["index"]

    def walk(module_id, prefix, seen):
        if module_id in seen:
            return
        seen = seen | {module_id}
        for item_id in index[str(module_id)]["inner"]["module"]["items"]:
            item = index.get(str(item_id))
            if item is None:
                continue
            use = item["inner"].get("use")
            target = use.get("id") if use else item_id
            local = target is not None and str(target) in index
            if use and use["is_glob"]:
                if local:
                    yield from walk(target, prefix, seen)
                continue
            path = f"{prefix}::{use['name'] if use else item['name']}"
            yield path, target, use
            if local and "module" in index[str(target)]["inner"]:
                yield from walk(target, path, seen)

    root = doc["root"]
    yield from walk(root, index[str(root)]["name"], frozenset())


def reachable(doc):
    """Every public path of each local item: {id: {"crate::a::B", …}}."""
    out = {}
    for path, target, _ in entries(doc):
        if target is not None and str(target) in doc["index"]:
            out.setdefault(target, set()).add(path)
    return out


def facade_exports(doc):
    """(facade path, external canonical path) for every re-export of another crate's item."""
    out = []
    for path, target, use in entries(doc):
        external = doc["paths"].get(str(target)) if use else None
        if external and external["crate_id"] != 0:
            out.append((path, "::".join(external["path"])))
    return out


def subject(line):
    """The path a listing line is about: the type after `for` in an impl, else the first path."""
    body = re.sub(r"^(#\[[^\]]*\]\s*)+", "", line)
    if body.startswith("impl"):
        tail = body.rsplit(" for ", 1)[-1]
        m = PATH.search(tail)
    else:
        m = PATH.search(re.sub(r"^pub (mod|fn|struct|enum|trait|const|static|type|use|unsafe fn|async fn|const fn)?\s*", "", body))
    return m.group(0) if m else ""


def main():
    doc_dir, facade_listing, *crates = sys.argv[1:]
    facade = load(doc_dir, "ryw")
    exports = facade_exports(facade)
    rename, listings, expanded = {}, {}, set()
    for arg in crates:
        crate, listing = arg.split("=", 1)
        doc = load(doc_dir, crate)
        by_canonical = {
            "::".join(p["path"]): int(i)
            for i, p in doc["paths"].items()
            if p["crate_id"] == 0
        }
        public = reachable(doc)
        for facade_path, canonical in exports:
            if not canonical.startswith(crate + "::"):
                continue
            # Other building blocks name the item by its defining path.
            rename[canonical] = facade_path
            expanded.add(facade_path)
            local = by_canonical.get(canonical)
            for path in public.get(local, ()):
                rename[path] = facade_path
        with open(listing, encoding="utf-8") as f:
            listings[crate] = [l.rstrip("\n") for l in f if l.strip()]

    # Longest first, so `ryw_core::store::ScopeStore` wins over `ryw_core::store`.
    order = sorted(rename, key=len, reverse=True)
    token = re.compile(r"\b(" + "|".join(re.escape(p) for p in order) + r")\b") if order else None

    def renamed(text):
        return token.sub(lambda m: rename[m.group(1)], text) if token else text

    seen, out, names = set(), [], 0
    for crate, listing in listings.items():
        trait_impl = None
        for line in listing:
            s = subject(line)
            if line.startswith("impl"):
                trait_impl = s if " for " in line else None
            elif trait_impl and not (s == trait_impl or s.startswith(trait_impl + "::")):
                trait_impl = None
            if not any(s == p or s.startswith(p + "::") for p in order):
                continue
            line = renamed(line)
            if line in seen:
                continue
            seen.add(line)
            out.append(line)
            # A name: anything but an impl line or a member of a trait impl (not a new name).
            names += not line.startswith("impl") and trait_impl is None
    with open(facade_listing, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            # A re-export of a crate not expanded here (the proc-macro crate) stays a `pub use`.
            if line.startswith("pub use ") and line[len("pub use "):] in expanded:
                continue
            if line and line not in seen:
                seen.add(line)
                out.append(line)
                names += not line.startswith("impl")

    leaks = [l for l in out if re.search(r"\bryw_(core|diesel|macros)::", l)]
    for line in out:
        print(line)
    print(f"public-api: {len(out)} lines, {names} names", file=sys.stderr)
    for line in leaks:
        print(f"public-api: names a building block, not the facade: {line}", file=sys.stderr)
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
