#!/usr/bin/env bash
# Regenerates every expected output (and MANIFEST.tsv) in this directory from
# the NN-*.xml inputs, then cross-checks them.
#
#   Requires: xmllint (libxml2-utils) and python3 with lxml (pip install lxml).
#   Usage:    tests/vectors/c14n/regenerate.sh
#
# Producers (see README.md for versions):
#   *.c14n-wc   xmllint --c14n FILE        (C14N 1.0, WithComments)
#   *.exc-wc    xmllint --exc-c14n FILE    (Exclusive C14N 1.0, WithComments)
#   *.c14n      lxml: etree.tostring(tree, method="c14n", exclusive=False, with_comments=False)
#   *.exc       lxml: etree.tostring(tree, method="c14n", exclusive=True,  with_comments=False)
#   *.exc-prefixes-P1_P2       lxml, exclusive=True, with_comments=False,
#                              inclusive_ns_prefixes=["P1", "P2"]
#   *.subtree-target.*         lxml, the same calls applied to the element that
#                              carries Id="target" instead of to the whole tree
#   *.exc-prefixes-*#default*  libxml2's C API directly (xmlC14NDocDumpMemory via
#                              ctypes on the system libxml2.so.2, i.e. the library
#                              xmllint uses), because lxml silently drops the
#                              "#default" token (it keeps only prefixes that occur
#                              in the document's name dictionary). For a subtree the
#                              node set is the XPath
#                              (//. | //@* | //namespace::*)[ancestor-or-self::*[@Id='target']]
#
# Checks (the script exits non-zero if one fails):
#   1. lxml's with-comments output equals xmllint's byte for byte, for every input.
#   2. Every stored vector equals what libxml2's C API produces (system
#      libxml2.so.2; whole document: node set NULL; subtree: the XPath above).
#   3. Every stored vector equals the output of an independent C14N 1.0 /
#      Exclusive C14N 1.0 reference written below from the W3C specs (expat
#      parser, own namespace processing, no libxml2 in the serialisation path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v xmllint >/dev/null || { echo "xmllint not found (apt-get install libxml2-utils)" >&2; exit 1; }
python3 -c 'import lxml.etree' 2>/dev/null || { echo "python3 lxml not found (pip install lxml)" >&2; exit 1; }

echo "== $(xmllint --version 2>&1 | head -n1)"
python3 -c 'import lxml.etree as e; print("== lxml", ".".join(map(str, e.LXML_VERSION)), "with libxml2", ".".join(map(str, e.LIBXML_VERSION)))'

# Remove previous expected outputs (everything except the inputs and the docs).
find . -maxdepth 1 -type f -name '[0-9][0-9]-*' ! -name '*.xml' -delete

# 1. xmllint: the WithComments variants. (--c14n and --exc-c14n keep comments;
#    xmllint has no option for the WithoutComments variants.)
for f in [0-9][0-9]-*.xml; do
    b="${f%.xml}"
    xmllint --c14n "$f" > "$b.c14n-wc"
    xmllint --exc-c14n "$f" > "$b.exc-wc"
done

# 2. lxml: WithoutComments variants, InclusiveNamespaces PrefixList variants,
#    subtree variants, the manifest, and the cross-checks.
python3 - <<'PY'
import ctypes, glob, os, sys
import xml.parsers.expat
from lxml import etree

# Exclusive C14N with an InclusiveNamespaces PrefixList (with_comments=False).
PREFIX_LISTS = {
    "23-prefixed-ns-redeclared": [["p", "q"]],
    "24-ns-root-used-deep": [["deep"], ["d2", "nosuch"]],
    "25-unused-prefixes": [["u1"], ["#default", "u1", "u2", "u3"]],
    "30-exc-default-ns-xmlns-empty": [["#default"]],
    "31-ns-used-only-by-attr": [["#default", "a"]],
    "35-soap12-ebms-envelope": [["S12"], ["S12", "wsu"]],
    "36-xhe-dsig-envelope": [["#default", "ds"]],
}
# The same, applied to the Id="target" subtree.
SUBTREE_PREFIX_LISTS = {
    "43-subtree-redeclared-prefix-chain": [["q"]],
    "44-subtree-signedinfo": [["S12", "wsu"]],
    "46-subtree-default-prefix-list": [["#default"]],
}
SUBTREE_ID = "target"
XML_NS = "http://www.w3.org/XML/1998/namespace"

def write(name, data):
    with open(name, "wb") as f:
        f.write(data)

def target_of(tree):
    found = tree.xpath("//*[@Id=$id]", id=SUBTREE_ID)
    if len(found) > 1:
        sys.exit(f"more than one element with Id={SUBTREE_ID!r}")
    return found[0] if found else None

def ancestors_have_xml_attrs(el):
    return any(k.startswith("{%s}" % XML_NS) for a in el.iterancestors() for k in a.attrib)

# libxml2's own C14N entry point, called directly (not through lxml).
_lib = ctypes.CDLL("libxml2.so.2")
_lib.xmlReadFile.restype = ctypes.c_void_p
_lib.xmlReadFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
_lib.xmlXPathNewContext.restype = ctypes.c_void_p
_lib.xmlXPathNewContext.argtypes = [ctypes.c_void_p]
_lib.xmlXPathEvalExpression.restype = ctypes.c_void_p
_lib.xmlXPathEvalExpression.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_lib.xmlC14NDocDumpMemory.restype = ctypes.c_int
_lib.xmlC14NDocDumpMemory.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
for _f in ("xmlFreeDoc", "xmlXPathFreeContext", "xmlXPathFreeObject"):
    getattr(_lib, _f).argtypes = [ctypes.c_void_p]

def libxml2_c14n(path, exclusive, with_comments, prefixes=(), subtree_id=None):
    """xmlC14NDocDumpMemory; parse options NOENT|DTDATTR like xmllint --c14n."""
    doc = _lib.xmlReadFile(path.encode(), None, 2 | 8)
    if not doc:
        raise RuntimeError(f"libxml2 could not parse {path}")
    ctx = obj = nodes = None
    if subtree_id is not None:
        ctx = _lib.xmlXPathNewContext(doc)
        expr = f"(//. | //@* | //namespace::*)[ancestor-or-self::*[@Id='{subtree_id}']]"
        obj = _lib.xmlXPathEvalExpression(expr.encode(), ctx)
        nodes = ctypes.cast(obj + 8, ctypes.POINTER(ctypes.c_void_p))[0]   # xmlXPathObject.nodesetval
    arr = (ctypes.c_char_p * (len(prefixes) + 1))(*[p.encode() for p in prefixes], None)
    buf = ctypes.c_void_p()
    n = _lib.xmlC14NDocDumpMemory(doc, nodes, 1 if exclusive else 0,
                                  ctypes.cast(arr, ctypes.c_void_p) if prefixes else None,
                                  1 if with_comments else 0, ctypes.byref(buf))
    if n < 0:
        raise RuntimeError(f"libxml2 C14N failed for {path}")
    data = ctypes.string_at(buf, n)
    if obj:
        _lib.xmlXPathFreeObject(obj)
        _lib.xmlXPathFreeContext(ctx)
    _lib.xmlFreeDoc(doc)
    return data

def exc_with_prefixes(tree_or_el, path, prefixes, subtree_id=None):
    if "#default" in prefixes:
        return libxml2_c14n(path, True, False, prefixes, subtree_id)
    return etree.tostring(tree_or_el, method="c14n", exclusive=True, with_comments=False,
                          inclusive_ns_prefixes=prefixes)

manifest = []   # (input, expected, mode, with_comments, prefixes, subtree_id)
problems = []

for path in sorted(glob.glob("[0-9][0-9]-*.xml")):
    base = path[:-4]
    tree = etree.parse(path)

    # Whole document, four variants.
    for mode, exc in (("inclusive", False), ("exclusive", True)):
        stem = "c14n" if not exc else "exc"
        out = etree.tostring(tree, method="c14n", exclusive=exc, with_comments=False)
        write(f"{base}.{stem}", out)
        manifest.append((path, f"{base}.{stem}", mode, "false", "-", "-"))
        # Cross-check lxml (WithComments) against the stored xmllint output.
        lx = etree.tostring(tree, method="c14n", exclusive=exc, with_comments=True)
        with open(f"{base}.{stem}-wc", "rb") as f:
            xl = f.read()
        if lx != xl:
            problems.append(f"{base}.{stem}-wc: lxml and xmllint differ:\n  lxml    {lx!r}\n  xmllint {xl!r}")
        manifest.append((path, f"{base}.{stem}-wc", mode, "true", "-", "-"))

    for prefixes in PREFIX_LISTS.get(base, []):
        name = f"{base}.exc-prefixes-{'_'.join(prefixes)}"
        write(name, exc_with_prefixes(tree, path, prefixes))
        manifest.append((path, name, "exclusive", "false", " ".join(prefixes), "-"))

    # Subtree: the element carrying Id="target".
    el = target_of(tree)
    if el is None:
        if base in SUBTREE_PREFIX_LISTS:
            sys.exit(f"{path}: no Id={SUBTREE_ID!r} element")
        continue
    # lxml canonicalises a detached copy of the element: in-scope namespaces are
    # carried over, but xml:lang/xml:space/xml:base of ancestors are NOT inherited
    # as C14N 1.0 section 2.4 requires. Skip the inclusive subtree vectors when
    # an ancestor carries an xml:* attribute (exclusive C14N does not inherit them).
    skip_inclusive = ancestors_have_xml_attrs(el)
    for mode, exc in (("inclusive", False), ("exclusive", True)):
        if skip_inclusive and not exc:
            print(f"note: {path}: no inclusive subtree vectors (ancestor xml:* attributes; lxml does not inherit them)")
            continue
        stem = "c14n" if not exc else "exc"
        for wc, suffix in ((False, ""), (True, "-wc")):
            name = f"{base}.subtree-{SUBTREE_ID}.{stem}{suffix}"
            write(name, etree.tostring(el, method="c14n", exclusive=exc, with_comments=wc))
            manifest.append((path, name, mode, "true" if wc else "false", "-", SUBTREE_ID))
    for prefixes in SUBTREE_PREFIX_LISTS.get(base, []):
        name = f"{base}.subtree-{SUBTREE_ID}.exc-prefixes-{'_'.join(prefixes)}"
        write(name, exc_with_prefixes(el, path, prefixes, SUBTREE_ID))
        manifest.append((path, name, "exclusive", "false", " ".join(prefixes), SUBTREE_ID))

for base in list(PREFIX_LISTS) + list(SUBTREE_PREFIX_LISTS):
    if not os.path.exists(base + ".xml"):
        sys.exit(f"prefix list configured for missing input {base}.xml")

with open("MANIFEST.tsv", "w", encoding="utf-8", newline="\n") as f:
    f.write("# input\texpected\tmode\twith_comments\tprefixes\tsubtree_id\n")
    for row in manifest:
        f.write("\t".join(row) + "\n")


# ---------------------------------------------------------------------------
# Independent reference implementation (W3C C14N 1.0 + Exclusive C14N 1.0),
# used only to cross-check the stored vectors. expat does the XML parsing
# (line-end and attribute-value normalisation, character references, CDATA);
# namespace processing and serialisation are done here, from the specs.
# ---------------------------------------------------------------------------
class Node:
    def __init__(self, kind, name=None, attrs=None, value=""):
        self.kind, self.name, self.attrs, self.value = kind, name, attrs, value
        self.children, self.parent = [], None

def parse(path):
    doc = Node("doc")
    stack = [doc]
    p = xml.parsers.expat.ParserCreate()      # namespace processing off: raw QNames
    p.ordered_attributes = True
    def add(n):
        n.parent = stack[-1]
        stack[-1].children.append(n)
        return n
    def start(name, attrs):
        stack.append(add(Node("elem", name, list(zip(attrs[0::2], attrs[1::2])))))
    def chars(data):
        kids = stack[-1].children
        if kids and kids[-1].kind == "text":
            kids[-1].value += data
        else:
            add(Node("text", value=data))
    p.StartElementHandler = start
    p.EndElementHandler = lambda name: stack.pop()
    p.CharacterDataHandler = chars
    p.CommentHandler = lambda data: add(Node("comment", value=data))
    p.ProcessingInstructionHandler = lambda target, data: add(Node("pi", target, value=data))
    with open(path, "rb") as f:
        p.Parse(f.read(), True)
    return doc

def in_scope(el):
    """prefix -> URI in scope at el ('' = default namespace, '' URI = none)."""
    chain = []
    n = el
    while n.kind == "elem":
        chain.append(n)
        n = n.parent
    ns = {"": ""}
    for a in reversed(chain):
        for k, v in a.attrs:
            if k == "xmlns":
                ns[""] = v
            elif k.startswith("xmlns:"):
                ns[k[6:]] = v
    ns["xml"] = XML_NS
    return ns

def split(qname):
    return qname.split(":", 1) if ":" in qname else ("", qname)

def esc_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")

def esc_attr(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
             .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;"))

def ref_c14n(path, exclusive, with_comments, prefixes=(), subtree_id=None):
    doc = parse(path)
    incl = {"" if p == "#default" else p for p in prefixes}
    out = []

    def pi(n):
        return f"<?{n.name}{' ' + n.value if n.value else ''}?>"

    def elem(el, rendered, apex):
        ns = in_scope(el)
        eprefix, _ = split(el.name)
        attrs = [(k, v) for k, v in el.attrs if k != "xmlns" and not k.startswith("xmlns:")]
        if exclusive:
            wanted = {eprefix} | {split(k)[0] for k, _ in attrs if ":" in k} | incl
        else:
            wanted = set(ns)
        wanted.discard("xml")
        decls = []
        new_rendered = dict(rendered)
        for p in sorted(wanted):
            if p not in ns:                      # InclusiveNamespaces prefix not in scope
                continue
            uri = ns[p]
            if p == "" and uri == "" and rendered.get("", "") == "":
                continue                         # no xmlns="" unless a default was rendered
            if rendered.get(p, None if p else "") != uri:
                decls.append((p, uri))
                new_rendered[p] = uri
        if apex and not exclusive:
            # C14N 1.0 section 2.4: inherit xml:* attributes from ancestors.
            have = {k for k, _ in attrs}
            a = el.parent
            while a.kind == "elem":
                for k, v in a.attrs:
                    if k.startswith("xml:") and k not in have:
                        attrs.append((k, v))
                        have.add(k)
                a = a.parent
        def key(kv):
            p, local = split(kv[0])
            return (ns[p] if p else "", local)
        attrs.sort(key=key)
        out.append("<" + el.name)
        for p, uri in decls:
            out.append(f' xmlns{":" + p if p else ""}="{esc_attr(uri)}"')
        for k, v in attrs:
            out.append(f' {k}="{esc_attr(v)}"')
        out.append(">")
        for c in el.children:
            node(c, new_rendered)
        out.append(f"</{el.name}>")

    def node(n, rendered, apex=False):
        if n.kind == "elem":
            elem(n, rendered, apex)
        elif n.kind == "text":
            out.append(esc_text(n.value))
        elif n.kind == "comment":
            if with_comments:
                out.append(f"<!--{n.value}-->")
        elif n.kind == "pi":
            out.append(pi(n))

    def find(n):
        if n.kind == "elem":
            if ("Id", subtree_id) in n.attrs:
                return n
        for c in n.children:
            r = find(c)
            if r is not None:
                return r
        return None

    if subtree_id is not None:
        node(find(doc), {}, apex=True)
    else:
        seen_root = False
        for n in doc.children:
            if n.kind == "elem":
                node(n, {}, apex=True)
                seen_root = True
            elif n.kind == "comment" and not with_comments:
                continue
            elif n.kind in ("comment", "pi"):
                text = f"<!--{n.value}-->" if n.kind == "comment" else pi(n)
                out.append("\n" + text if seen_root else text + "\n")
    return "".join(out).encode("utf-8")

for inp, exp, mode, wc, prefixes, sid in manifest:
    args = (inp, mode == "exclusive", wc == "true",
            [] if prefixes == "-" else prefixes.split(" "), None if sid == "-" else sid)
    with open(exp, "rb") as f:
        want = f.read()
    for label, impl in (("libxml2 C API", libxml2_c14n), ("reference implementation", ref_c14n)):
        got = impl(*args)
        if got != want:
            problems.append(f"{exp}: {label} disagrees:\n  stored    {want!r}\n  {label} {got!r}")

inputs = len({m[0] for m in manifest})
print(f"== {len(manifest)} vectors from {inputs} inputs written to MANIFEST.tsv")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(f"{len(problems)} cross-check problem(s)")
print("== cross-checks passed: lxml == xmllint (with comments); libxml2 C API and reference C14N == all stored vectors")
PY
