"""DAGs written the way production DAGs often are, for the drop-in corpus test.

They import nothing from cloudplan: the corpus test parses each one plain and again with
every task turned into a stage, and compares the two.
"""
