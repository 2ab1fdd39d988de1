"""etcd access: typed CRUD with compare-and-swap, watches from a revision, leases, elections."""

from xene.store.election import Election
from xene.store.embedded import EmbeddedEtcd, find_etcd_binary
from xene.store.etcd import EtcdClient, KeyEvent, KeyValue
from xene.store.leases import Lease
from xene.store.objects import ObjectStore, WatchEvent

__all__ = [
    "Election",
    "EmbeddedEtcd",
    "EtcdClient",
    "KeyEvent",
    "KeyValue",
    "Lease",
    "ObjectStore",
    "WatchEvent",
    "find_etcd_binary",
]
