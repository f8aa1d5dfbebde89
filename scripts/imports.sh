#!/bin/sh
# The module graph of src/, from `crate::` and `super::` paths, and a check
# that it has no cycle. Prints one "from -> to" edge a line (test modules
# included); exits 1 naming a cycle if there is one.
#   sh scripts/imports.sh          the edges, then "no cycle"
# A module is a top-level file or directory of src/ (setup/net.rs is
# `setup`): the arrows that matter are between those. The two dialect
# directories, cli/ and metadata/, must not import each other either.
set -eu
cd "$(dirname "$0")/../src"
python3 - <<'PY'
import os, re, sys
edges, sub = set(), set()
for root, _, files in os.walk('.'):
    for f in files:
        if not f.endswith('.rs'):
            continue
        path = os.path.join(root, f)[2:]
        parts = path[:-3].split('/')
        top = parts[0]
        text = open(path).read()
        # Drop comments so prose naming a path does not count.
        text = re.sub(r'//[^\n]*', '', text)
        for m in re.finditer(r'\bcrate::(?:\{([^}]*)\}|(\w+))', text):
            names = [m.group(2)] if m.group(2) else [n.strip().split('::')[0] for n in m.group(1).split(',')]
            for to in names:
                to = to.strip()
                if to and to != 'self' and to != top:
                    edges.add((top, to))
        # Dialect files inside cli/ and metadata/ must not reach the other dialect.
        if top in ('cli', 'metadata'):
            other = 'metadata' if top == 'cli' else 'cli'
            if re.search(r'\bcrate::' + other + r'\b', text):
                sub.add((path, other))
# main.rs uses modules by bare name (`setup::prepare`): count those too.
main = re.sub(r'//[^\n]*', '', open('main.rs').read())
mods = set(re.findall(r'^mod (\w+);', main, re.M))
for m in re.finditer(r'\b(\w+)::', main):
    if m.group(1) in mods:
        edges.add(('main', m.group(1)))
for a, b in sorted(edges):
    print(a, '->', b)
graph = {}
for a, b in edges:
    graph.setdefault(a, set()).add(b)
state = {}
def visit(n, stack):
    state[n] = 1
    stack.append(n)
    for m in sorted(graph.get(n, ())):
        if state.get(m) == 1:
            cyc = stack[stack.index(m):] + [m]
            print('imports: cycle: ' + ' -> '.join(cyc), file=sys.stderr)
            sys.exit(1)
        if m not in state:
            visit(m, stack)
    stack.pop()
    state[n] = 2
for n in sorted(graph):
    if n not in state:
        visit(n, [])
if sub:
    for p, o in sorted(sub):
        print('imports: dialect %s imports %s' % (p, o), file=sys.stderr)
    sys.exit(1)
print('imports: no cycle (%d modules, %d arrows)' % (len(set(graph) | {b for _, b in edges}), len(edges)))
PY
