"""State deltas: what changed between two values of a state channel, and applying it.

A value is the `data` object of a state frame (a host sample, a batch of container
stats). Its top-level fields change as a whole (`set`, `unset`), except the channel's
item list (`items`, e.g. `containers`), whose items are matched by their `id`: an item
that changed sends only its changed fields, new items are `added` whole (and so is one
that lost a field, replacing it in place), gone ones are `removed` by id. Items keep
their place and new ones go to the end, unless `order` (sent only when items moved)
lists the ids in their new order. Applying the patch from A to B to A gives exactly B.

The gateway computes each delta once per value; clients (the dashboard, the Python
client) apply them, and must see `seq` go up by one each time, or ask for a snapshot.
"""

from typing import Any

ITEM_ID = "id"

Data = dict[str, Any]
Patch = dict[str, Any]  # the delta's fields: set, unset, items, changed, added, removed


def diff(old: Data, new: Data, items: str | None = None) -> Patch:
    """The patch that turns `old` into `new` (empty parts left out)."""
    listed = items if items is not None and items in old and items in new else None
    patch: Patch = {}
    if set_ := {
        field: value
        for field, value in new.items()
        if field != listed and (field not in old or old[field] != value)
    }:
        patch["set"] = set_
    if unset := [field for field in old if field not in new]:
        patch["unset"] = unset
    if listed is not None:
        patch.update(_diff_items(old[listed], new[listed], listed))
    return patch


def _diff_items(old: list[Data], new: list[Data], items: str) -> Patch:
    before = {item[ITEM_ID]: item for item in old}
    changed: dict[str, Data] = {}
    added: list[Data] = []  # new items, and those that lost a field (sent whole)
    for item in new:
        previous = before.get(item[ITEM_ID])
        if previous is None or not previous.keys() <= item.keys():
            added.append(item)
            continue
        fields = {
            key: value
            for key, value in item.items()
            if key not in previous or previous[key] != value
        }
        if fields:
            changed[item[ITEM_ID]] = fields
    kept = {item[ITEM_ID] for item in new}
    patch: Patch = {"items": items}
    if changed:
        patch["changed"] = changed
    if added:
        patch["added"] = added
    if removed := [key for key in before if key not in kept]:
        patch["removed"] = removed
    order = [item[ITEM_ID] for item in new]
    if order != _applied_order(list(before), removed, added):
        patch["order"] = order  # only when items moved
    return patch


def _applied_order(before: list[str], removed: list[str], added: list[Data]) -> list[str]:
    """Where `apply` puts items: those kept in their place, new ones at the end."""
    order = [key for key in before if key not in removed]
    return order + [item[ITEM_ID] for item in added if item[ITEM_ID] not in order]


def apply(data: Data, patch: Patch) -> Data:
    """`data` with the patch applied, as a new object (`data` is left as it was)."""
    unset = patch.get("unset", ())
    result = {field: value for field, value in data.items() if field not in unset}
    result.update(patch.get("set", {}))
    items = patch.get("items")
    if items is None:
        return result
    changed: dict[str, Data] = patch.get("changed", {})
    removed = set(patch.get("removed", ()))
    merged: dict[str, Data] = {}
    for item in data.get(items, []):
        key = item[ITEM_ID]
        if key not in removed:
            merged[key] = {**item, **changed[key]} if key in changed else item
    for item in patch.get("added", ()):
        merged[item[ITEM_ID]] = item  # in place if it was there, else at the end
    order = patch.get("order")
    result[items] = [merged[key] for key in order] if order else list(merged.values())
    return result
