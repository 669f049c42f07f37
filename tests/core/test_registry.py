"""Registry rules of DESIGN section 2 on a private tree (no plugins involved)."""

import pytest

from detplug_core.errors import AmbiguousNameError, BuildError, NotFoundError, RegistryError
from detplug_core.registry import Registry


@pytest.fixture
def tree():
    root = Registry("models")
    a = Registry("models", parent=root, scope="a")
    b = Registry("models", parent=root, scope="b")
    a_sub = Registry("models", parent=a, scope="a_sub")
    return root, a, b, a_sub


def test_local_first_then_ancestors(tree):
    root, a, _, a_sub = tree

    @root.register("Net")
    class RootNet:
        pass

    @a.register("Net")
    class ANet:
        pass

    assert a.get("Net") is ANet  # local shadows the root
    assert a_sub.get("Net") is ANet  # nearest ancestor wins
    assert root.get("Net") is RootNet


def test_sibling_found_through_whole_tree_when_unique(tree):
    _, a, b, _ = tree

    @b.register()
    class OnlyInB:
        pass

    assert a.get("OnlyInB") is OnlyInB


def test_ambiguous_bare_name_lists_each_scope(tree):
    root, a, b, _ = tree
    a.register("Head", obj=type("HeadA", (), {}))
    b.register("Head", obj=type("HeadB", (), {}))
    with pytest.raises(AmbiguousNameError) as err:
        root.get("Head")
    assert "'a.Head'" in str(err.value) and "'b.Head'" in str(err.value)
    assert root.get("b.Head").__name__ == "HeadB"


def test_scoped_lookup_falls_back_to_ancestors_of_that_scope(tree):
    root, a, b, a_sub = tree
    root.register("Shared", obj=dict)
    assert b.get("a_sub.Shared") is dict
    with pytest.raises(NotFoundError, match="known scopes: a, a_sub, b, detplug"):
        root.get("nope.Shared")


def test_not_found_suggests_close_matches(tree):
    _, a, _, _ = tree
    a.register("ResNet", obj=type("ResNet", (), {}))
    with pytest.raises(NotFoundError, match="did you mean 'ResNet'"):
        a.get("Resnet")


def test_duplicate_name_names_both_definitions(tree):
    _, a, _, _ = tree

    class First:
        pass

    class Second:
        pass

    a.register("X", obj=First)
    with pytest.raises(RegistryError) as err:
        a.register("X", obj=Second)
    msg = str(err.value)
    assert "First" in msg and "Second" in msg and "test_registry.py" in msg
    a.register("X", obj=Second, force=True)
    assert a.get("X") is Second


def test_duplicate_scope_is_an_error(tree):
    root, *_ = tree
    with pytest.raises(RegistryError, match="already has a child with scope 'a'"):
        Registry("models", parent=root, scope="a")


def test_build_reports_key_path_suggestion_and_accepted(tree):
    root, a, _, _ = tree

    @a.register()
    class Head:
        def __init__(self, num_classes: int, in_channels: int = 256):
            self.num_classes = num_classes

    @a.register()
    class Detector:
        def __init__(self, head: dict):
            self.head = root.build(head)

    with pytest.raises(BuildError) as err:
        root.build({"type": "Detector", "head": {"type": "Head", "num_clases": 3}}, path="model")
    msg = str(err.value)
    assert msg.startswith("model.head.num_clases:")
    assert "did you mean 'num_classes'" in msg and "num_classes, in_channels" in msg
    with pytest.raises(BuildError, match=r"model.head: Head: .*num_classes"):
        root.build({"type": "Detector", "head": {"type": "Head"}}, path="model")
    det = root.build({"type": "Detector", "head": {"type": "Head", "num_classes": 4}})
    assert det.head.num_classes == 4


def test_build_unknown_type_names_the_key(tree):
    root, *_ = tree
    with pytest.raises(NotFoundError, match=r"^model.type: 'Nothing' is not registered"):
        root.build({"type": "Nothing"}, path="model")


def test_scope_key_sets_start_for_whole_subtree(tree):
    root, a, b, _ = tree
    a.register("Part", obj=type("PartA", (), {}))
    b.register("Part", obj=type("PartB", (), {}))

    @root.register()
    class Holder:
        def __init__(self, part: dict):
            self.part = root.build(part)

    built = root.build({"type": "Holder", "_scope_": "b", "part": {"type": "Part"}})
    assert type(built.part).__name__ == "PartB"
    with pytest.raises(AmbiguousNameError):
        root.build({"type": "Holder", "part": {"type": "Part"}})


def test_default_args_fill_missing_only(tree):
    root, *_ = tree

    @root.register()
    class M:
        def __init__(self, classes=None, depth=1):
            self.classes, self.depth = classes, depth

    m = root.build({"type": "M", "depth": 3}, classes=["a"], depth=9)
    assert (m.classes, m.depth) == (["a"], 3)


def test_listing_with_pattern(tree):
    root, a, b, _ = tree
    a.register("ResNet18", obj=int)
    b.register("ResNet50", obj=float)
    b.register("FPN", obj=str)
    assert root.names("ResNet*") == ["a.ResNet18", "b.ResNet50"]
    assert root.names("b.*") == ["b.FPN", "b.ResNet50"]


def test_value_error_raised_by_a_component_gets_the_key_path(tree):
    root, *_ = tree

    @root.register()
    class Stopper:
        def __init__(self, rule: str = "greater"):
            if rule not in ("greater", "less"):
                raise BuildError(f"Stopper.rule: must be greater or less, got {rule!r}")

    with pytest.raises(BuildError) as err:
        root.build({"type": "Stopper", "rule": "bigger"}, path="hooks.2")
    assert str(err.value) == "hooks.2: Stopper.rule: must be greater or less, got 'bigger'"


def test_a_null_config_value_takes_the_default_arg(tree):
    """``in_channels: null`` (docs/models.md) means "let the parent fill it in"."""
    root, *_ = tree

    @root.register()
    class Neck:
        def __init__(self, in_channels, out_channels=8):
            self.in_channels, self.out_channels = in_channels, out_channels

    neck = root.build({"type": "Neck", "in_channels": None}, in_channels=[4, 8])
    assert neck.in_channels == [4, 8]
    assert root.build({"type": "Neck", "in_channels": None}).in_channels is None


def _as_plugin(name: str):
    from detplug_core.registry.provenance import Provenance, loading

    return loading(Provenance(name, f"detplug-{name}", "1.0", f"detplug_{name}"))


def test_provenance_is_recorded_at_registration(tree):
    from detplug_core.registry.registry import provenance_of

    root, a, *_ = tree

    class Net:
        pass

    Net.__module__ = "somewhere_else.models"  # the module does not decide who registered it
    with _as_plugin("one"):
        a.register(obj=Net)
    entry = root.get_entry("a.Net")
    assert (entry.plugin, entry.distribution) == ("detplug_one", "detplug-one")
    assert str(provenance_of(Net)) == "detplug-one 1.0"

    class Local:
        pass

    a.register(obj=Local)  # outside the loader: the registering module's package
    assert root.get_entry("Local").plugin == __name__.split(".")[0]


def test_plugins_command_warns_about_shadowed_and_colliding_names(tree):
    from detplug_core.cli.plugins_cmd import name_conflicts

    root, a, b, _ = tree
    with _as_plugin("one"):
        a.register("Net", obj=type("Net", (), {}))
    with _as_plugin("two"):
        b.register("Net", obj=type("Net", (), {}))
    (collide,) = name_conflicts({"models": root})
    assert "'Net' is registered by several plugins (a.Net (detplug-one), b.Net (detplug-two))" in (
        collide
    )
    root.register("Net", obj=type("Net", (), {}))  # code outside any plugin may use the root
    (shadow,) = name_conflicts({"models": root})
    by = __name__.split(".")[0]
    assert f"'Net' registered in the root registry by {by} shadows the others" in shadow
