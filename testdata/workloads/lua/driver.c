/* Embeds Lua: opens a state with the standard libraries, exposes two C
 * functions to the script, runs the script named by argv[1] with the other
 * arguments in the global table `arg`, and returns the script's result as
 * the exit code. Uses only the public Lua C API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

/* host.checksum(s): a 32-bit FNV-1a of a string, computed in C. */
static int host_checksum(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned long h = 2166136261ul;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h = (h * 16777619ul) & 0xfffffffful;
    }
    lua_pushinteger(L, (lua_Integer)h);
    return 1;
}

/* host.map(t, f): a new table with f(v) for each element of the sequence t,
 * calling back into Lua from C. */
static int host_map(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_Integer n = luaL_len(L, 1);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushvalue(L, 2);
        lua_geti(L, 1, i);
        lua_call(L, 1, 1);
        lua_seti(L, -2, i);
    }
    return 1;
}

static const luaL_Reg host_functions[] = {
    {"checksum", host_checksum},
    {"map", host_map},
    {NULL, NULL},
};

static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lua error: %s\n", msg ? msg : "(not a string)");
        lua_pop(L, 1);
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: driver SCRIPT [ARG...]\n");
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "cannot create a Lua state\n");
        return 2;
    }
    luaL_openlibs(L);
    luaL_newlib(L, host_functions);
    lua_setglobal(L, "host");

    lua_createtable(L, argc, 0);
    for (int i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_seti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");

    int status = report(L, luaL_loadfile(L, argv[1]));
    int code = 1;
    if (status == LUA_OK) {
        status = report(L, lua_pcall(L, 0, 1, 0));
        if (status == LUA_OK) {
            code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
            lua_pop(L, 1);
        }
    }
    printf("lua memory in use at close: %s\n", lua_gc(L, LUA_GCCOUNT, 0) > 0 ? "some" : "none");
    lua_close(L);
    return status == LUA_OK ? code : 1;
}
