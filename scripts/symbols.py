#!/usr/bin/env python3
"""The functions libfirkin exports: every fk_* function declared in include/firkin/*.h.

  scripts/symbols.py             prints them, one a line, sorted
  scripts/symbols.py --map FILE  writes the linker version script that exports them alone
  scripts/symbols.py --check FILE  exits 1 (naming the difference) when FILE is not that script
"""
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def declared():
    names = set()
    hdir = os.path.join(TOP, 'include', 'firkin')
    for h in sorted(os.listdir(hdir)):
        if not h.endswith('.h'):
            continue
        text = open(os.path.join(hdir, h)).read()
        text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
        text = re.sub(r'//[^\n]*', ' ', text)
        text = re.sub(r'^\s*#[^\n]*(\\\n[^\n]*)*', ' ', text, flags=re.M)
        for stmt in text.split(';'):
            s = ' '.join(stmt.split())
            if s.startswith('typedef') or '{' in s:
                s = s[s.rfind('}') + 1:] if '}' in s else ''
            m = re.search(r'\b(fk_[a-z0-9_]+)\s*\(', s)
            if m and not re.search(r'\(\s*\*\s*' + m.group(1), s):
                names.add(m.group(1))
    return sorted(names)


def version_script(names):
    body = ''.join(f'    {n};\n' for n in names)
    return ('/* libfirkin\'s exported symbols: the functions of include/firkin/*.h, nothing else.\n'
            '   Written by scripts/symbols.py --map; a test checks it against the headers. */\n'
            f'FIRKIN_0 {{\n  global:\n{body}  local:\n    *;\n}};\n')


def main(argv):
    names = declared()
    if len(argv) == 3 and argv[1] == '--map':
        open(argv[2], 'w').write(version_script(names))
        return 0
    if len(argv) == 3 and argv[1] == '--check':
        have = open(argv[2]).read()
        if have != version_script(names):
            listed = set(re.findall(r'^\s+(fk_[a-z0-9_]+);$', have, flags=re.M))
            print(f'{argv[2]} is out of date (scripts/symbols.py --map {argv[2]}): '
                  f'missing {sorted(set(names) - listed)}, extra {sorted(listed - set(names))}')
            return 1
        return 0
    if len(argv) == 1:
        print('\n'.join(names))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
