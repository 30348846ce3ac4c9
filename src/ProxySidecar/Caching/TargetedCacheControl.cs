namespace ProxySidecar.Caching;

/// <summary>
/// A targeted cache-control field (RFC 9213, e.g. <c>CDN-Cache-Control</c>): a Structured Field Dictionary (RFC 8941)
/// whose members are cache directives. A value that is not a valid dictionary, or in which a directive this cache
/// acts on has the wrong type (max-age not an Integer, no-store not a Boolean ...), is ignored as a whole, and
/// Cache-Control applies.
/// </summary>
internal static class TargetedCacheControl
{
    public static bool TryParse(string value, out CacheControl directives)
    {
        directives = default;
        var reader = new Reader(value);
        var result = default(CacheControl);
        reader.SkipSpaces();
        if (reader.End)
        {
            return false;
        }

        while (true)
        {
            if (!reader.Key(out var key))
            {
                return false;
            }

            Item item;
            if (reader.Peek == '=')
            {
                reader.Advance();
                if (!reader.MemberValue(out item))
                {
                    return false;
                }
            }
            else
            {
                item = Item.True;
                if (!reader.Parameters())
                {
                    return false;
                }
            }

            if (!Apply(key, item, ref result))
            {
                return false;
            }

            reader.SkipOws();
            if (reader.End)
            {
                break;
            }

            if (reader.Peek != ',')
            {
                return false;
            }

            reader.Advance();
            reader.SkipOws();
            if (reader.End)
            {
                return false;
            }
        }

        result.Present = true;
        directives = result;
        return true;
    }

    /// <summary>A directive this cache acts on must have its type; any other member is ignored.</summary>
    private static bool Apply(string key, Item item, ref CacheControl result)
    {
        switch (key)
        {
            case "max-age" or "s-maxage" or "stale-while-revalidate" or "stale-if-error":
                if (item.Kind != ItemKind.Integer || item.Integer < 0)
                {
                    return false;
                }

                var seconds = (int)Math.Min(item.Integer, int.MaxValue);
                _ = key switch
                {
                    "max-age" => result.MaxAge = seconds,
                    "s-maxage" => result.SharedMaxAge = seconds,
                    "stale-while-revalidate" => result.StaleWhileRevalidate = seconds,
                    _ => result.StaleIfError = seconds,
                };
                return true;

            case "no-store" or "public" or "must-revalidate" or "proxy-revalidate":
                if (item.Kind != ItemKind.Boolean)
                {
                    return false;
                }

                if (item.Boolean)
                {
                    _ = key switch
                    {
                        "no-store" => result.NoStore = true,
                        "public" => result.Public = true,
                        "must-revalidate" => result.MustRevalidate = true,
                        _ => result.ProxyRevalidate = true,
                    };
                }

                return true;

            case "no-cache" or "private":
                // A Boolean, or an Inner List of field names (treated as unqualified, like in Cache-Control).
                if (item.Kind is not (ItemKind.Boolean or ItemKind.InnerList))
                {
                    return false;
                }

                if (item.Kind == ItemKind.InnerList || item.Boolean)
                {
                    _ = key == "no-cache" ? result.NoCache = true : result.Private = true;
                }

                return true;

            default:
                return true;
        }
    }

    private enum ItemKind
    {
        Integer,
        Decimal,
        String,
        Token,
        ByteSequence,
        Boolean,
        InnerList,
    }

    private readonly record struct Item(ItemKind Kind, long Integer = 0, bool Boolean = false)
    {
        public static readonly Item True = new(ItemKind.Boolean, Boolean: true);
    }

    /// <summary>RFC 8941 §4.2, the parts a Dictionary needs.</summary>
    private ref struct Reader(string text)
    {
        private readonly ReadOnlySpan<char> _text = text;
        private int _i;

        public readonly bool End => _i >= _text.Length;

        public readonly char Peek => End ? '\0' : _text[_i];

        public void Advance() => _i++;

        public void SkipSpaces()
        {
            while (!End && _text[_i] == ' ')
            {
                _i++;
            }
        }

        public void SkipOws()
        {
            while (!End && _text[_i] is ' ' or '\t')
            {
                _i++;
            }
        }

        public bool Key(out string key)
        {
            key = string.Empty;
            var start = _i;
            if (End || !(char.IsAsciiLetterLower(_text[_i]) || _text[_i] == '*'))
            {
                return false;
            }

            while (!End && (char.IsAsciiLetterLower(_text[_i]) || char.IsAsciiDigit(_text[_i]) || _text[_i] is '_' or '-' or '.' or '*'))
            {
                _i++;
            }

            key = _text[start.._i].ToString();
            return true;
        }

        public bool MemberValue(out Item item)
        {
            if (Peek == '(')
            {
                item = new Item(ItemKind.InnerList);
                return InnerList() && Parameters();
            }

            return BareItem(out item) && Parameters();
        }

        public bool Parameters()
        {
            while (Peek == ';')
            {
                _i++;
                SkipSpaces();
                if (!Key(out _))
                {
                    return false;
                }

                if (Peek == '=')
                {
                    _i++;
                    if (!BareItem(out _))
                    {
                        return false;
                    }
                }
            }

            return true;
        }

        private bool InnerList()
        {
            _i++; // '('
            while (!End)
            {
                SkipSpaces();
                if (Peek == ')')
                {
                    _i++;
                    return true;
                }

                if (!BareItem(out _) || !Parameters())
                {
                    return false;
                }

                if (Peek is not (' ' or ')'))
                {
                    return false;
                }
            }

            return false;
        }

        private bool BareItem(out Item item)
        {
            item = default;
            if (End)
            {
                return false;
            }

            var c = _text[_i];
            if (c == '-' || char.IsAsciiDigit(c))
            {
                return Number(out item);
            }

            if (c == '"')
            {
                item = new Item(ItemKind.String);
                return QuotedString();
            }

            if (c == ':')
            {
                item = new Item(ItemKind.ByteSequence);
                return ByteSequence();
            }

            if (c == '?')
            {
                if (_i + 1 >= _text.Length || _text[_i + 1] is not ('0' or '1'))
                {
                    return false;
                }

                item = new Item(ItemKind.Boolean, Boolean: _text[_i + 1] == '1');
                _i += 2;
                return true;
            }

            if (char.IsAsciiLetter(c) || c == '*')
            {
                while (!End && (IsTchar(_text[_i]) || _text[_i] is ':' or '/'))
                {
                    _i++;
                }

                item = new Item(ItemKind.Token);
                return true;
            }

            return false;
        }

        private bool Number(out Item item)
        {
            item = default;
            var negative = Peek == '-';
            if (negative)
            {
                _i++;
            }

            var start = _i;
            long value = 0;
            while (!End && char.IsAsciiDigit(_text[_i]))
            {
                value = (value * 10) + (_text[_i] - '0');
                _i++;
                if (_i - start > 15)
                {
                    return false;
                }
            }

            var digits = _i - start;
            if (digits == 0)
            {
                return false;
            }

            if (Peek != '.')
            {
                item = new Item(ItemKind.Integer, negative ? -value : value);
                return true;
            }

            _i++;
            var fractionStart = _i;
            while (!End && char.IsAsciiDigit(_text[_i]))
            {
                _i++;
            }

            var fraction = _i - fractionStart;
            item = new Item(ItemKind.Decimal);
            return digits <= 12 && fraction is >= 1 and <= 3;
        }

        private bool QuotedString()
        {
            _i++; // '"'
            while (!End)
            {
                var c = _text[_i++];
                if (c == '\\')
                {
                    if (End || _text[_i] is not ('"' or '\\'))
                    {
                        return false;
                    }

                    _i++;
                }
                else if (c == '"')
                {
                    return true;
                }
                else if (c < 0x20 || c > 0x7E)
                {
                    return false;
                }
            }

            return false;
        }

        private bool ByteSequence()
        {
            _i++; // ':'
            while (!End)
            {
                var c = _text[_i++];
                if (c == ':')
                {
                    return true;
                }

                if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '='))
                {
                    return false;
                }
            }

            return false;
        }

        private static bool IsTchar(char c) =>
            char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
    }
}
