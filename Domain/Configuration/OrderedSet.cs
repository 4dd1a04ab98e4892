using System.Collections;
using System.Collections.Immutable;

namespace Butterfly.Domain.Configuration;

/// <summary>Builds <see cref="OrderedSet{T}"/>s.</summary>
public static class OrderedSet
{
    /// <summary>The items in order, first occurrence kept; an OrderedSet is returned as it is.</summary>
    public static OrderedSet<T> From<T>(IEnumerable<T>? items)
        where T : notnull
    {
        if (items is OrderedSet<T> set)
            return set;
        var list = ImmutableList.CreateBuilder<T>();
        var seen = ImmutableHashSet.CreateBuilder<T>();
        foreach (var item in items ?? [])
        {
            if (seen.Add(item))
                list.Add(item);
        }

        return new OrderedSet<T>(list.ToImmutable(), seen.ToImmutable());
    }
}

/// <summary>
/// An immutable list without duplicates that keeps insertion order: the shape of a NIC's
/// IPs and a group's members and rules. Adding, testing and removing cost O(log n), so a
/// group of 10 000 members takes its next member (and a log of such events replays)
/// without copying the whole list each time.
/// </summary>
public sealed class OrderedSet<T> : IReadOnlyList<T>
    where T : notnull
{
    public static readonly OrderedSet<T> Empty = new(ImmutableList<T>.Empty, ImmutableHashSet<T>.Empty);

    private readonly ImmutableList<T> _items;
    private readonly ImmutableHashSet<T> _set;

    internal OrderedSet(ImmutableList<T> items, ImmutableHashSet<T> set)
    {
        _items = items;
        _set = set;
    }

    public int Count => _items.Count;

    public T this[int index] => _items[index];

    public bool Contains(T item) => _set.Contains(item);

    /// <summary>This set with <paramref name="item"/> at the end, or this set if it holds it already.</summary>
    public OrderedSet<T> Add(T item) => _set.Contains(item) ? this : new(_items.Add(item), _set.Add(item));

    /// <summary>This set without <paramref name="item"/>, or this set if it does not hold it.</summary>
    public OrderedSet<T> Remove(T item) => _set.Contains(item) ? new(_items.Remove(item), _set.Remove(item)) : this;

    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
