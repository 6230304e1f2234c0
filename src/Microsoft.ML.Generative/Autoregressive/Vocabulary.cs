using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>What the model's input column holds.</summary>
internal enum SequenceInputKind
{
    /// <summary>A string column, tokenized by the model.</summary>
    Text = 0,

    /// <summary>A vector of keys (ML.NET's own text transforms), used as tokens.</summary>
    Keys = 1,
}

/// <summary>
/// The model's token set, learned in <c>Fit</c> and saved with the model. Id 0 is the boundary token ⟨s⟩ (start of
/// every sequence and its end: the model predicts it after the last real token), id 1 the unknown token ⟨unk⟩, ids
/// 2 … V − 1 the symbols seen in training (at least <see cref="AutoregressiveModelOptions.MinimumTokenFrequency"/>
/// times), ordered by code unit, word (ordinal) or key value, so that the vocabulary is a function of the data alone.
/// For key input the vocabulary is compacted to the keys actually seen (the key type's cardinality can be 65,535 for
/// <c>TokenizeIntoCharactersAsKeys</c>), and each id remembers its key value and its text for decoding.
/// </summary>
internal sealed class Vocabulary
{
    public const int Boundary = 0;
    public const int Unknown = 1;
    public const int FirstSymbol = 2;

    private readonly int[]? _charIds;                          // Characters: code unit → id (Unknown if unseen)
    private readonly Dictionary<string, int>? _wordIds;        // Words
    private readonly Dictionary<ulong, int>? _keyIds;          // Keys: raw key value → id

    public Vocabulary(SequenceInputKind kind, Tokenization tokenization, string[] symbols, ulong[] keys, string separator)
    {
        Kind = kind;
        Tokenization = tokenization;
        Symbols = symbols;
        Keys = keys;
        Separator = separator;
        if (kind == SequenceInputKind.Keys)
        {
            _keyIds = new Dictionary<ulong, int>(keys.Length);
            for (int i = 0; i < keys.Length; i++) _keyIds[keys[i]] = FirstSymbol + i;
        }
        else if (tokenization == Tokenization.Characters)
        {
            _charIds = new int[char.MaxValue + 1];
            Array.Fill(_charIds, Unknown);
            for (int i = 0; i < symbols.Length; i++) _charIds[symbols[i][0]] = FirstSymbol + i;
        }
        else
        {
            _wordIds = new Dictionary<string, int>(symbols.Length, StringComparer.Ordinal);
            for (int i = 0; i < symbols.Length; i++) _wordIds[symbols[i]] = FirstSymbol + i;
        }
    }

    public SequenceInputKind Kind { get; }

    public Tokenization Tokenization { get; }

    /// <summary>The text of ids 2 … V − 1.</summary>
    public string[] Symbols { get; }

    /// <summary>The raw key value of ids 2 … V − 1 (key input only; empty otherwise).</summary>
    public ulong[] Keys { get; }

    /// <summary>What joins decoded tokens: "" for characters, " " for words.</summary>
    public string Separator { get; }

    /// <summary>V, special tokens included.</summary>
    public int Size => Symbols.Length + FirstSymbol;

    /// <summary>Appends the ids of <paramref name="text"/>'s tokens (unseen → <see cref="Unknown"/>).</summary>
    public void EncodeText(ReadOnlySpan<char> text, List<int> ids)
    {
        if (_charIds is not null)
        {
            foreach (char c in text) ids.Add(_charIds[c]);
            return;
        }
        var lookup = _wordIds!.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var range in Words(text))
            ids.Add(lookup.TryGetValue(text[range], out int id) ? id : Unknown);
    }

    /// <summary>
    /// Encodes a prompt typed by a user: like the training text, or for key input by the keys' texts (characters when
    /// every key text is one character, else white-space separated words). Returns the tokens that are not in the
    /// vocabulary (none: success).
    /// </summary>
    public List<string> EncodePrompt(string prompt, List<int> ids)
    {
        var unknown = new List<string>();
        if (Kind == SequenceInputKind.Text && Tokenization == Tokenization.Characters)
        {
            foreach (char c in prompt)
            {
                int id = _charIds![c];
                if (id == Unknown) unknown.Add(c.ToString());
                ids.Add(id);
            }
            return unknown;
        }
        _textIds ??= Enumerable.Range(0, Symbols.Length).GroupBy(i => Symbols[i], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => FirstSymbol + g.First(), StringComparer.Ordinal);
        IEnumerable<string> tokens = Separator.Length == 0 && Kind == SequenceInputKind.Keys
            ? prompt.Select(c => c.ToString())
            : Words(prompt).Select(r => prompt[r]).ToList();
        foreach (var token in tokens)
        {
            if (_textIds.TryGetValue(token, out int id))
                ids.Add(id);
            else
                unknown.Add(token);
        }
        return unknown;
    }

    private Dictionary<string, int>? _textIds;

    /// <summary>The id of a raw key value (0 = missing, or unseen → <see cref="Unknown"/>).</summary>
    public int KeyId(ulong key) => _keyIds!.TryGetValue(key, out int id) ? id : Unknown;

    /// <summary>The text of a token id (the boundary and unknown tokens decode to nothing).</summary>
    public string Text(int id) => id >= FirstSymbol && id < Size ? Symbols[id - FirstSymbol] : "";

    public string Decode(IEnumerable<int> ids)
        => string.Join(Separator, ids.Where(i => i >= FirstSymbol).Select(Text));

    /// <summary>The runs of non-white-space characters of <paramref name="text"/>.</summary>
    public static IEnumerable<Range> Words(ReadOnlySpan<char> text)
    {
        var ranges = new List<Range>();
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            int start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
            if (i > start) ranges.Add(new Range(start, i));
        }
        return ranges;
    }

    // Format, in write order: int32 kind, int32 tokenization, string separator, int32 n, n × string symbol,
    // int32 k (n for keys, 0 otherwise), k × uint64 key value.
    public void Save(BinaryWriter writer)
    {
        writer.Write((int)Kind);
        writer.Write((int)Tokenization);
        writer.Write(Separator);
        writer.Write(Symbols.Length);
        foreach (var s in Symbols) writer.Write(s);
        writer.Write(Keys.Length);
        foreach (var k in Keys) writer.Write(k);
    }

    public static Vocabulary Load(BinaryReader reader, string modelName)
    {
        var kind = (SequenceInputKind)reader.ReadInt32();
        var tokenization = (Tokenization)reader.ReadInt32();
        if (!Enum.IsDefined(kind) || !Enum.IsDefined(tokenization))
            throw ModelPersistence.Corrupt(modelName, $"unknown input kind ({(int)kind}) or tokenization ({(int)tokenization})");
        string separator = reader.ReadString();
        int n = reader.ReadInt32();
        if (n < 1 || n > 1 << 24)
            throw ModelPersistence.Corrupt(modelName, $"impossible vocabulary size ({n})");
        var symbols = new string[n];
        for (int i = 0; i < n; i++) symbols[i] = reader.ReadString();
        int k = reader.ReadInt32();
        if (k != (kind == SequenceInputKind.Keys ? n : 0))
            throw ModelPersistence.Corrupt(modelName, $"the vocabulary has {k} key values for {n} symbols");
        var keys = new ulong[k];
        for (int i = 0; i < k; i++) keys[i] = reader.ReadUInt64();
        if (kind == SequenceInputKind.Text && tokenization == Tokenization.Characters && symbols.Any(s => s.Length != 1))
            throw ModelPersistence.Corrupt(modelName, "a character vocabulary holds a symbol that is not one character");
        return new Vocabulary(kind, tokenization, symbols, keys, separator);
    }
}

/// <summary>
/// Reads the token column of rows: a string (tokenized by the vocabulary) or a vector of keys (byte, ushort, uint or
/// ulong raw values). Checks the column's type with errors that name the column, what was found and what to do.
/// </summary>
internal sealed class SequenceColumn
{
    private const string Expected = "a String (text) column, or a vector of keys (from TokenizeIntoCharactersAsKeys, or TokenizeIntoWords + MapValueToKey)";

    private readonly ValueGetter<ReadOnlyMemory<char>>? _text;
    private readonly Action<List<ulong>>? _keys;
    private ReadOnlyMemory<char> _textBuffer;
    private readonly List<ulong> _keyBuffer = new();

    public SequenceColumn(DataViewRow row, int index)
    {
        var column = row.Schema[index];
        if (column.Type is TextDataViewType)
            _text = row.GetGetter<ReadOnlyMemory<char>>(column);
        else
            _keys = KeyReader(row, column);
    }

    /// <summary>Checks a runtime schema; returns the column's index and kind.</summary>
    public static int Check(IExceptionContext ectx, DataViewSchema schema, string name, out SequenceInputKind kind)
    {
        var column = schema.GetColumnOrNull(name);
        if (column is null)
            throw ectx.ExceptUserArg(nameof(AutoregressiveModelOptions.InputColumnName),
                $"Input column '{name}' was not found. Columns present: {string.Join(", ", schema.Take(12).Select(c => $"'{c.Name}' ({c.Type})"))}{(schema.Count > 12 ? ", ..." : "")}.");
        var type = column.Value.Type;
        if (type is TextDataViewType)
        {
            kind = SequenceInputKind.Text;
            return column.Value.Index;
        }
        if (type is VectorDataViewType { ItemType: KeyDataViewType })
        {
            kind = SequenceInputKind.Keys;
            return column.Value.Index;
        }
        throw ectx.ExceptParam(nameof(schema), $"Schema mismatch for input column '{name}': expected {Expected}, got {type}. "
            + "Convert it with mlContext.Transforms.Conversion.ConvertType to String, or tokenize it into keys.");
    }

    /// <summary>Checks an estimator's input shape.</summary>
    public static void Check(IExceptionContext ectx, SchemaShape schema, string name)
    {
        if (!schema.TryFindColumn(name, out var column))
            throw ectx.ExceptSchemaMismatch(nameof(schema), "input", name);
        bool text = column.Kind == SchemaShape.Column.VectorKind.Scalar && column.ItemType is TextDataViewType;
        bool keys = column.Kind != SchemaShape.Column.VectorKind.Scalar && column.IsKey;
        if (!text && !keys)
            throw ectx.ExceptParam(nameof(schema), $"Schema mismatch for input column '{name}': expected {Expected}, got {column.GetTypeString()}.");
    }

    public SequenceInputKind Kind => _text is not null ? SequenceInputKind.Text : SequenceInputKind.Keys;

    /// <summary>The current row's text (text columns).</summary>
    public ReadOnlyMemory<char> ReadText()
    {
        _text!(ref _textBuffer);
        return _textBuffer;
    }

    /// <summary>The current row's raw key values (key columns; 0 = missing). Valid until the next read.</summary>
    public List<ulong> ReadKeys()
    {
        _keyBuffer.Clear();
        _keys!(_keyBuffer);
        return _keyBuffer;
    }

    /// <summary>Appends the token ids of the current row.</summary>
    public void Encode(Vocabulary vocabulary, List<int> ids)
    {
        if (_text is not null)
        {
            vocabulary.EncodeText(ReadText().Span, ids);
            return;
        }
        foreach (ulong k in ReadKeys()) ids.Add(vocabulary.KeyId(k));
    }

    /// <summary>The text of each key value 1 … n from the column's KeyValues annotation, or null.</summary>
    public static string[]? KeyTexts(DataViewSchema.Column column)
    {
        var annotation = column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        if (annotation is null || annotation.Value.Type is not VectorDataViewType { ItemType: TextDataViewType })
            return null;
        var values = default(VBuffer<ReadOnlyMemory<char>>);
        column.Annotations.GetValue(AnnotationUtils.Kinds.KeyValues, ref values);
        return values.DenseValues().Select(m => m.ToString()).ToArray();
    }

    private static Action<List<ulong>> KeyReader(DataViewRow row, DataViewSchema.Column column)
    {
        var raw = ((VectorDataViewType)column.Type).ItemType.RawType;
        if (raw == typeof(byte)) return Reader<byte>(row, column, v => v);
        if (raw == typeof(ushort)) return Reader<ushort>(row, column, v => v);
        if (raw == typeof(uint)) return Reader<uint>(row, column, v => v);
        return Reader<ulong>(row, column, v => v);
    }

    private static Action<List<ulong>> Reader<T>(DataViewRow row, DataViewSchema.Column column, Func<T, ulong> widen)
    {
        var getter = row.GetGetter<VBuffer<T>>(column);
        var buffer = default(VBuffer<T>);
        return list =>
        {
            getter(ref buffer);
            foreach (var v in buffer.DenseValues()) list.Add(widen(v));
        };
    }
}
