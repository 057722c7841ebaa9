#!/usr/bin/env python3
"""Rewrites kubernetes-validate's JSON schemas for kubeconform's offline use.

kubernetes-validate ships per-version schemas whose $refs point at "/api/_definitions.json" under
an https $id; kubeconform would try to fetch those. This writes them into kubeconform's
"<version>-standalone-strict/<kind>-<group>-<version>.json" layout with file-relative refs.

Usage: k8s-schemas.py OUT_DIR VERSION... (run with the venv's python that has kubernetes-validate)
"""
import json, os, sys
import kubernetes_validate
out, versions = sys.argv[1], sys.argv[2:]
src_root = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema')
def fix(node):
    if isinstance(node, dict):
        return {k: (v.replace('/api/_definitions.json#', '_definitions.json#')
                    if k == '$ref' and isinstance(v, str) else fix(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [fix(x) for x in node]
    return node
for version in versions:
    src = os.path.join(src_root, f'v{version}-local-strict')
    dst = os.path.join(out, f'v{version}-standalone-strict')
    os.makedirs(dst)
    for name in os.listdir(src):
        if name.endswith('.json'):
            with open(os.path.join(src, name)) as f:
                doc = json.load(f)
            doc.pop('$id', None)
            with open(os.path.join(dst, name), 'w') as f:
                json.dump(fix(doc), f)
