-- Nothing to undo: `optimize` only merged index segments.
SELECT 1;
