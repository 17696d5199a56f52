"""Test-only stand-in for the subset of PyImath that GafferSegmentation uses."""


class _Vec:

    _size = 2
    _cast = float

    def __init__(self, *args):
        if len(args) == 0:
            values = [0] * self._size
        elif len(args) == 1:
            a = args[0]
            if isinstance(a, (_Vec, list, tuple)):
                values = list(a)
            else:
                values = [a] * self._size
        else:
            values = list(args)
        if len(values) != self._size:
            raise TypeError(f"{type(self).__name__} needs {self._size} components")
        self._v = [self._cast(x) for x in values]

    def __getitem__(self, i):
        return self._v[i]

    def __setitem__(self, i, value):
        self._v[i] = self._cast(value)

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter(self._v)

    def __eq__(self, other):
        return type(self) is type(other) and self._v == other._v

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._v)))

    def __add__(self, other):
        other = other if isinstance(other, _Vec) else type(self)(other)
        return type(self)(*[a + b for a, b in zip(self._v, other._v)])

    def __sub__(self, other):
        other = other if isinstance(other, _Vec) else type(self)(other)
        return type(self)(*[a - b for a, b in zip(self._v, other._v)])

    def __repr__(self):
        def fmt(x):
            if isinstance(x, float):
                return repr(int(x)) if x == int(x) else repr(x)
            return repr(x)
        return "imath.%s( %s )" % (type(self).__name__, ", ".join(fmt(x) for x in self._v))

    @property
    def x(self):
        return self._v[0]

    @x.setter
    def x(self, value):
        self._v[0] = self._cast(value)

    @property
    def y(self):
        return self._v[1]

    @y.setter
    def y(self, value):
        self._v[1] = self._cast(value)


class V2i(_Vec):
    _cast = int


class V2f(_Vec):
    _cast = float


class V3f(_Vec):
    _size = 3

    @property
    def z(self):
        return self._v[2]


class Color3f(_Vec):
    _size = 3


class Color4f(_Vec):
    _size = 4


class _Box:

    _vec = V2i

    def __init__(self, min=None, max=None):
        if min is None:
            # An empty box, as Imath constructs it.
            self._min = self._vec(self._emptyMin)
            self._max = self._vec(self._emptyMax)
        else:
            self._min = self._vec(min)
            self._max = self._vec(max if max is not None else min)

    def min(self):
        return self._vec(self._min)

    def max(self):
        return self._vec(self._max)

    def setMin(self, v):
        self._min = self._vec(v)

    def setMax(self, v):
        self._max = self._vec(v)

    def size(self):
        return self._max - self._min

    def isEmpty(self):
        return any(a > b for a, b in zip(self._min, self._max))

    def __eq__(self, other):
        return type(self) is type(other) and self._min == other._min and self._max == other._max

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._min), tuple(self._max)))

    def __repr__(self):
        return "imath.%s( %r, %r )" % (type(self).__name__, self._min, self._max)


class Box2i(_Box):
    _vec = V2i
    _emptyMin = 2 ** 31 - 1
    _emptyMax = -(2 ** 31)


class Box2f(_Box):
    _vec = V2f
    _emptyMin = 3.4028234663852886e38
    _emptyMax = -3.4028234663852886e38
