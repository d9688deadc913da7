"""Render a kustomization the way `kustomize build` does, for the subset our manifests use.

Supported: `resources` (files and kustomization directories), `namespace`, `labels` (pairs, added to metadata
only, like kustomize's `labels` without `includeSelectors`), `images` (newName/newTag), `replicas`, and `patches`
with a `path` to a strategic-merge patch (maps merged recursively; lists of maps merged by `name`). Anything else
in a kustomization is an error, so the renderer never silently drops a feature the real tool would apply.
`python scripts/kustomize_render.py deploy/k8s/overlays/prod` prints the rendered YAML stream.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge for the shapes in our manifests: dicts recursively, named lists element-wise by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in base + patch)
    ):
        out_list = [copy.deepcopy(x) for x in base]
        index = {x["name"]: i for i, x in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = _merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def _set_image(image: str, rules: list[dict[str, str]]) -> str:
    name, _, tag = image.partition(":")
    for rule in rules:
        if rule["name"] == name:
            return f"{rule.get('newName', name)}:{rule.get('newTag', tag or 'latest')}"
    return image


def build(directory: Path) -> list[dict[str, Any]]:
    """The rendered resources of the kustomization in ``directory``."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kust) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(build(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch_ref in kust.get("patches", []):
        if set(patch_ref) != {"path"}:
            raise ValueError(f"{directory}: only path patches are supported: {patch_ref}")
        patch = yaml.safe_load((directory / patch_ref["path"]).read_text())
        targets = [
            d
            for d in docs
            if d["kind"] == patch["kind"] and d["metadata"]["name"] == patch["metadata"]["name"]
        ]
        if not targets:
            raise ValueError(f"patch {patch_ref['path']} matches no resource")
        for target in targets:
            docs[docs.index(target)] = _merge(target, patch)
    for rep in kust.get("replicas", []):
        matches = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == rep["name"]]
        if not matches:
            raise ValueError(f"replicas: no Deployment {rep['name']}")
        for d in matches:
            d["spec"]["replicas"] = rep["count"]
    for d in docs:
        for c in _containers(d):
            c["image"] = _set_image(c["image"], kust.get("images", []))
    for group in kust.get("labels", []):
        for d in docs:
            d["metadata"].setdefault("labels", {}).update(group["pairs"])
    if "namespace" in kust:
        for d in docs:
            if d["kind"] == "Namespace":
                d["metadata"]["name"] = kust["namespace"]
            elif d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = kust["namespace"]
    return docs


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(yaml.safe_dump_all(build(Path(argv[0])), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
