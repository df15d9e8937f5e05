"""Word vectors: Word2Vec (skip-gram, CBOW; negative sampling) and GloVe, trained with tf.data + Keras."""
