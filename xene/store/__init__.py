"""The store: typed objects and named operations over etcd (or memory), informers, leases,
elections. Everything that knows etcd's key layout or builds etcd operations lives here."""

from xene.store.election import Election
from xene.store.embedded import EmbeddedEtcd, find_etcd_binary
from xene.store.etcd import EtcdClient
from xene.store.informer import Change, Informer
from xene.store.kv import KeyEvent, KeyValue, KeyValueStore
from xene.store.leases import Lease
from xene.store.memory import MemoryKeyValueStore
from xene.store.objects import ObjectStore, WatchEvent

__all__ = [
    "Change",
    "Election",
    "EmbeddedEtcd",
    "EtcdClient",
    "Informer",
    "KeyEvent",
    "KeyValue",
    "KeyValueStore",
    "Lease",
    "MemoryKeyValueStore",
    "ObjectStore",
    "WatchEvent",
    "find_etcd_binary",
]
