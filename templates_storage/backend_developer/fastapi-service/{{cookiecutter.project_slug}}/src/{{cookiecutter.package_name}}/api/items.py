"""Example resource showing validation, pagination and error handling.

Replace the in-memory repository with a real one (SQLAlchemy, an HTTP client, ...) behind the
same `ItemRepository` interface; the routes and tests stay unchanged.
"""

import threading
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field


class ItemIn(BaseModel):
    # Strict: reject "12" for an integer instead of silently coercing it.
    model_config = ConfigDict(strict=True)

    name: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0)
    tags: list[str] = Field(default_factory=list, max_length=20)


class Item(ItemIn):
    id: UUID


class Page(BaseModel):
    items: list[Item]
    total: int
    limit: int
    offset: int


class ItemRepository:
    def __init__(self) -> None:
        self._items: dict[UUID, Item] = {}
        self._lock = threading.Lock()

    def list(self, limit: int, offset: int) -> tuple[list[Item], int]:
        with self._lock:
            values = list(self._items.values())
        return values[offset : offset + limit], len(values)

    def get(self, item_id: UUID) -> Item | None:
        return self._items.get(item_id)

    def add(self, data: ItemIn) -> Item:
        item = Item(id=uuid4(), **data.model_dump())
        with self._lock:
            self._items[item.id] = item
        return item

    def delete(self, item_id: UUID) -> bool:
        with self._lock:
            return self._items.pop(item_id, None) is not None


_repository = ItemRepository()


def get_repository() -> ItemRepository:
    return _repository


Repo = Annotated[ItemRepository, Depends(get_repository)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Item not found"}}
router = APIRouter(prefix="/items", tags=["items"])


@router.get("", response_model=Page)
async def list_items(
    repo: Repo,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page:
    items, total = repo.list(limit, offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("", response_model=Item, status_code=status.HTTP_201_CREATED)
async def create_item(data: ItemIn, repo: Repo) -> Item:
    return repo.add(data)


@router.get("/{item_id}", response_model=Item, responses=NOT_FOUND)
async def get_item(item_id: UUID, repo: Repo) -> Item:
    item = repo.get(item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_item(item_id: UUID, repo: Repo) -> None:
    if not repo.delete(item_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="item not found")
