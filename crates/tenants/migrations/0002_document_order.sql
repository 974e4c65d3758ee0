-- Lists ordered by size read off an index too, as those by time and by name do.
CREATE INDEX documents_size ON documents (size, id);
