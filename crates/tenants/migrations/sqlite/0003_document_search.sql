-- SQLite has no trigram index: a name search reads the documents (about 30 ms for
-- 100,000). The step exists so both backends number their schema alike.
SELECT 1;
