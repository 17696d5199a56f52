"""Signals with the `connect()` / `disconnect()` interface of Gaffer.Signals."""


class Connection:

    def __init__(self, signal, slot):
        self.__signal = signal
        self.__slot = slot

    def disconnect(self):
        self.__signal._disconnect(self.__slot)

    def connected(self):
        return self.__signal._connected(self.__slot)


class Signal:

    def __init__(self):
        self.__slots = []

    def connect(self, slot, scoped=None):
        self.__slots.append(slot)
        return Connection(self, slot)

    def _disconnect(self, slot):
        if slot in self.__slots:
            self.__slots.remove(slot)

    def _connected(self, slot):
        return slot in self.__slots

    def numSlots(self):
        return len(self.__slots)

    def empty(self):
        return not self.__slots

    def __call__(self, *args):
        result = None
        for slot in list(self.__slots):
            result = slot(*args)
        return result
