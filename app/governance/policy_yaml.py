"""YAML to plain data, remembering the line of every key: the policy file is composed into
nodes (not loaded straight to dicts) so each mistake found later can name its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from app.governance.policy_issues import Issues, PathT, PolicyIssue, dotted


class _Composer:
    def __init__(self, issues: Issues) -> None:
        self.issues = issues
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.active: set[int] = set()
        self.from_merge: set[PathT] = set()

    def to_python(self, node: yaml.Node, path: PathT) -> Any:
        if id(node) in self.active:  # &a [*a]: an alias inside itself would recurse forever
            self.issues.add(path, "recursive alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            return self.constructor.construct_object(node)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[Any, Any]:
        written = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        # Resolves "<<: *anchor": merged pairs come first, then the ones written here.
        self.constructor.flatten_mapping(node)
        merged = len(node.value) - written
        out: dict[Any, Any] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.items.append(PolicyIssue(line, dotted(path), "keys must be plain text"))
                continue
            key = self.constructor.construct_object(key_node)
            if key in out and index >= merged and (*path, key) not in self.from_merge:
                first = self.issues.lines[(*path, key)]
                message = f"duplicate key (first given on line {first})"
                self.issues.items.append(PolicyIssue(line, dotted((*path, key)), message))
                continue
            if index < merged:
                self.from_merge.add((*path, key))  # a key written here may override it
            else:
                self.from_merge.discard((*path, key))
            self.issues.lines[(*path, key)] = line
            out[key] = self.to_python(value_node, (*path, key))
        return out

    def _sequence(self, node: yaml.SequenceNode, path: PathT) -> list[Any]:
        out: list[Any] = []
        for index, item in enumerate(node.value):
            self.issues.lines[(*path, index)] = item.start_mark.line + 1
            out.append(self.to_python(item, (*path, index)))
        return out


def compose(text: str, issues: Issues) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        issues.items.append(PolicyIssue(line, "", f"YAML syntax error: {problem}"))
        return None
    except yaml.YAMLError as exc:
        issues.items.append(PolicyIssue(None, "", f"YAML error: {exc}"))
        return None
    if node is None:
        return {}  # an empty file is an empty policy: everything off
    issues.lines[()] = node.start_mark.line + 1
    return _Composer(issues).to_python(node, ())
