"""Latent Dirichlet allocation: MLlib's EM and online variational optimizers.

Owns the training behind ``LDA.train``. Documents are ``(id, term counts)``;
per partition they become one numpy structure (term indices and counts per
document, compressed rows).

* ``em`` (MLlib's default, Asuncion et al.): every token starts with a
  random topic distribution (a generator seeded by the seed and the
  partition); an iteration computes for every (document, term) pair
  ``gamma_k ~ (N_wk + eta - 1)(N_dk + alpha - 1)/(N_k + W eta - W)`` from the
  previous counts and sums count-weighted gammas into new document-topic
  counts ``N_dk`` (kept beside the documents, one persisted RDD per
  iteration, checkpointed every ``checkpointInterval`` when the Context has a
  checkpoint directory) and term-topic counts ``N_wk`` (summed with
  ``treeAggregate``, broadcast to the next iteration). Defaults as MLlib's:
  ``alpha = 50/k + 1``, ``eta = 1.1``; both must exceed 1.
* ``online`` (Hoffman et al.): each iteration samples 5 % of the documents,
  fits their variational topic proportions against the current ``lambda``
  (the broadcast topics), and moves ``lambda`` by ``(tau0 + t)^-kappa``
  (``tau0 = 1024``, ``kappa = 0.51``) towards ``eta + D / batch * stats``.
  Defaults ``alpha = eta = 1/k``.

The result is the topics matrix (vocabulary x k): term-topic counts for EM,
``lambda`` transposed for online; topics are described by its normalised
columns.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ember.engine.api.storage import StorageLevel
from ember.engine.errors import InvalidDataError
from ember.mllib import _special
from ember.mllib.linalg import SparseVector, _convert_to_vector


class Documents:
    """A partition's documents: ids, and per document its terms and counts
    (compressed rows)."""

    __slots__ = ("ids", "indptr", "terms", "counts", "doc_topics")

    def __init__(self, ids, indptr, terms, counts, doc_topics=None):
        self.ids, self.indptr, self.terms, self.counts = ids, indptr, terms, counts
        self.doc_topics = doc_topics

    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.ids)), np.diff(self.indptr))

    def __reduce__(self):
        return Documents, (self.ids, self.indptr, self.terms, self.counts, self.doc_topics)


def _document(record: Any) -> tuple[int, Any]:
    try:
        doc_id, vector = record[0], record[1]
    except (TypeError, IndexError):
        raise InvalidDataError(f"a document is (id, term count vector), got {record!r}") from None
    if int(doc_id) < 0:
        raise InvalidDataError(f"document ids must be >= 0, got {doc_id}")
    return int(doc_id), _convert_to_vector(vector)


def _read(vocabulary: int):
    def read(records: Iterator) -> Iterator[Documents]:
        ids, lengths, terms, counts = [], [], [], []
        for record in records:
            doc_id, vector = _document(record)
            if len(vector) != vocabulary:
                raise InvalidDataError(f"document {doc_id} has a vector of size {len(vector)}, "
                                       f"expected the vocabulary size {vocabulary}")
            if isinstance(vector, SparseVector):
                index, value = vector.indices, vector.values
            else:
                value = vector.toArray()
                index = np.nonzero(value)[0]
                value = value[index]
            keep = value != 0
            ids.append(doc_id)
            lengths.append(int(keep.sum()))
            terms.append(index[keep])
            counts.append(value[keep])
        if ids:
            yield Documents(np.array(ids), np.concatenate(([0], np.cumsum(lengths))),
                            np.concatenate(terms).astype(np.int64), np.concatenate(counts))

    return read


def _merge(left, right):
    if left is None or right is None:
        return right if left is None else left
    return left + right


def train_em(corpus: Any, k: int, vocabulary: int, iterations: int, alpha: float, eta: float,
             seed: int, checkpoint_interval: int) -> np.ndarray:
    """The term-topic counts (vocabulary x k) after EM."""
    context = corpus.context
    W = vocabulary
    base = corpus.mapPartitions(_read(vocabulary))

    def initialise(partition: int, parts: Iterator[Documents]) -> Iterator[Documents]:
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, partition])
        for docs in parts:
            gamma = rng.random((len(docs.terms), k))
            gamma /= gamma.sum(axis=1, keepdims=True)
            weighted = gamma * docs.counts[:, None]
            doc_topics = np.zeros((len(docs.ids), k))
            np.add.at(doc_topics, docs.rows(), weighted)
            yield Documents(docs.ids, docs.indptr, docs.terms, docs.counts, (doc_topics, weighted))

    state = base.mapPartitionsWithIndex(initialise)
    state.persist(StorageLevel.MEMORY_AND_DISK)

    def term_topics(total, docs):
        counts = np.zeros((W, k))
        np.add.at(counts, docs.terms, docs.doc_topics[1])
        return _merge(total, counts)

    topic_terms = state.treeAggregate(None, term_topics, _merge)
    if topic_terms is None:
        state.unpersist()
        raise InvalidDataError("LDA needs at least one document with a non-zero term count")
    checkpointing = bool(getattr(context, "getCheckpointDir", lambda: None)())
    # Each state is computed from the one before it and that iteration's
    # broadcast, and a lost cached partition is recomputed through that chain:
    # every broadcast lives until training ends (workers only drop their copies).
    broadcasts = []
    try:
        for iteration in range(iterations):
            broadcast = context.broadcast(topic_terms)
            broadcasts.append(broadcast)
            previous = state
            state = previous.map(_em_step(broadcast, W, eta, alpha))
            state.persist(StorageLevel.MEMORY_AND_DISK)
            if (checkpointing and checkpoint_interval > 0
                    and (iteration + 1) % checkpoint_interval == 0):
                state.checkpoint()
            topic_terms = state.treeAggregate(None, term_topics, _merge)
            broadcast.unpersist()
            previous.unpersist()
        state.unpersist()
    finally:
        for broadcast in broadcasts:
            broadcast.destroy()
    return topic_terms


def _em_step(broadcast: Any, W: int, eta: float, alpha: float):
    def step(docs: Documents) -> Documents:
        n_wk = broadcast.value
        n_k = n_wk.sum(axis=0)
        doc_topics, _ = docs.doc_topics
        rows = docs.rows()
        gamma = ((n_wk[docs.terms] + eta - 1.0) * (doc_topics[rows] + alpha - 1.0)
                 / (n_k + W * eta - W))
        gamma /= gamma.sum(axis=1, keepdims=True)
        weighted = gamma * docs.counts[:, None]
        new_doc_topics = np.zeros_like(doc_topics)
        np.add.at(new_doc_topics, rows, weighted)
        return Documents(docs.ids, docs.indptr, docs.terms, docs.counts,
                         (new_doc_topics, weighted))
    return step


def train_online(corpus: Any, k: int, vocabulary: int, iterations: int, alpha: float,
                 eta: float, seed: int) -> np.ndarray:
    """``lambda`` transposed (vocabulary x k) after online variational Bayes."""
    context = corpus.context
    docs = corpus.mapPartitions(_read(vocabulary))
    docs.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        corpus_size = docs.map(lambda d: len(d.ids)).sum()
        if corpus_size == 0:
            raise InvalidDataError("LDA needs at least one document")
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 6])
        lam = rng.gamma(100.0, 1.0 / 100.0, size=(k, vocabulary))
        tau0, kappa, fraction = 1024.0, 0.51, 0.05
        for iteration in range(1, iterations + 1):
            exp_elog_beta = np.exp(_special.digamma(lam) - _special.digamma(
                lam.sum(axis=1, keepdims=True)))
            broadcast = context.broadcast(exp_elog_beta)

            def e_step(partition: int, parts: Iterator[Documents], iteration=iteration):
                beta = broadcast.value
                stats = np.zeros_like(beta)
                used = 0
                for block, part in enumerate(parts):
                    draw = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, 7, iteration,
                                                  partition, block])
                    chosen = draw.random(len(part.ids)) < fraction
                    for d in np.nonzero(chosen)[0]:
                        start, end = part.indptr[d], part.indptr[d + 1]
                        ids, cts = part.terms[start:end], part.counts[start:end]
                        if not len(ids):
                            continue
                        used += 1
                        gamma = draw.gamma(100.0, 1.0 / 100.0, size=k)
                        exp_theta = np.exp(_special.digamma(gamma) - _special.digamma(gamma.sum()))
                        beta_d = beta[:, ids]
                        norm = exp_theta @ beta_d + 1e-100
                        for _ in range(100):
                            last = gamma
                            gamma = alpha + exp_theta * ((cts / norm) @ beta_d.T)
                            exp_theta = np.exp(_special.digamma(gamma)
                                               - _special.digamma(gamma.sum()))
                            norm = exp_theta @ beta_d + 1e-100
                            if np.abs(gamma - last).mean() < 1e-3:
                                break
                        stats[:, ids] += np.outer(exp_theta, cts / norm)
                yield stats, used

            try:
                stats, used = docs.mapPartitionsWithIndex(e_step).treeReduce(
                    lambda a, b: (a[0] + b[0], a[1] + b[1]))
            finally:
                broadcast.destroy()
            if used == 0:
                continue
            rho = (tau0 + iteration) ** (-kappa)
            lam = (1 - rho) * lam + rho * (eta + (corpus_size / used) * stats * exp_elog_beta)
        return lam.T.copy()
    finally:
        docs.unpersist()


def describe(topics: np.ndarray, max_terms: int) -> list[tuple[list[int], list[float]]]:
    out = []
    for column in topics.T:
        total = column.sum()
        weights = column / total if total > 0 else column
        order = np.argsort(-weights, kind="stable")[:max_terms]
        out.append(([int(i) for i in order], [float(weights[i]) for i in order]))
    return out
