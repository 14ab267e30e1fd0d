"""ckptfix.records.Record behaves like the frozen (or plain) dataclass it replaces."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from ckptfix.formats.objects import StorageRef, TensorRef
from ckptfix.records import FrozenRecordError, Record, replace


class Point(Record):
    """A doc."""

    x: int
    y: int = 0
    label: str = "p"


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    label: str = "p"


class Point3(Point):
    z: int = 5


class Counter(Record, frozen=False):
    n: int
    tags: tuple = ()


class Derived(Record):
    name: str

    def __post_init__(self) -> None:
        self.__dict__["upper"] = self.name.upper()


def test_construction_matches_dataclass():
    for args, kw in [((1,), {}), ((1, 2), {}), ((1,), {"label": "q"}), ((), {"x": 3, "y": 4})]:
        p, d = Point(*args, **kw), DPoint(*args, **kw)
        assert (p.x, p.y, p.label) == (d.x, d.y, d.label)
        assert repr(p) == repr(d).replace("DPoint", "Point")


@pytest.mark.parametrize("args,kw,msg", [
    ((), {}, "missing required argument 'x'"),
    ((1, 2, "a", 4), {}, "takes 3 arguments but 4 were given"),
    ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ((1,), {"w": 2}, "unexpected keyword argument 'w'"),
])
def test_bad_calls_raise_type_error(args, kw, msg):
    with pytest.raises(TypeError, match=msg):
        Point(*args, **kw)
    with pytest.raises(TypeError):
        DPoint(*args, **kw)


def test_frozen_equality_hash():
    p = Point(1, 2)
    with pytest.raises(FrozenRecordError):
        p.x = 5
    with pytest.raises(AttributeError):  # FrozenRecordError is an AttributeError, like FrozenInstanceError
        del p.y
    assert p == Point(1, 2) and p != Point(1, 3) and hash(p) == hash(Point(1, 2))
    assert p != DPoint(1, 2) and Point3(1, 2) != Point(1, 2)  # other classes never compare equal
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_inherited_fields_come_first():
    q = Point3(1, 2, "a", 9)
    assert Point3.__record_fields__ == ("x", "y", "label", "z")
    assert repr(q) == "Point3(x=1, y=2, label='a', z=9)"


def test_mutable_records_assign_and_are_unhashable():
    c = Counter(1)
    c.n = 2
    assert c == Counter(2) and c.tags == ()
    with pytest.raises(TypeError):
        hash(c)
    t = TensorRef(StorageRef("0", "float32", 4, "cpu", 1), 0, (), ())
    t.offset = 0
    assert not hasattr(t, "__dict__")  # the hot records are slotted
    assert t == TensorRef(StorageRef("0", "float32", 4, "cpu", 1), 0, (), (), False)


def test_post_init_and_replace():
    d = Derived("ab")
    assert d.upper == "AB" and d == Derived("ab")
    p = replace(Point(1, 2), label="z")
    assert p == Point(1, 2, "z")
    assert replace(Derived("ab"), name="cd").upper == "CD"
    with pytest.raises(TypeError, match="no field 'w'"):
        replace(p, w=1)


def test_pickle_round_trip():
    for obj in (Point(1, 2), Point3(1), Counter(3, (1,)), Derived("x"),
                TensorRef(StorageRef("0", "float32", 4, "cpu", 1), 0, (), ())):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_class_definition_errors_like_dataclasses():
    with pytest.raises(ValueError, match="mutable default list"):
        class Bad(Record):
            items: list = []
    with pytest.raises(TypeError, match="non-default field 'b' follows default field 'a'"):
        class Bad2(Record):
            a: int = 0
            b: int


def test_a_field_s_metadata_is_kept_and_its_default_is_the_default() -> None:
    from ckptfix.records import Field, fields_meta

    class A(Record):
        x: int = Field(1, "about x")
        y: int = 2

    class B(A):
        z: int = Field(3, "about z")

    assert B() == B(1, 2, 3) and A.x == 1 and A().x == 1
    assert fields_meta(A) == {"x": "about x"} and fields_meta(B) == {"x": "about x", "z": "about z"}
